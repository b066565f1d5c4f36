"""End to end on an emulated AWS: the deployed system as a whole, against a moto server.

scripts/e2e.sh builds the artifacts, starts moto, prepares a scratch copy of infra/ (the real
configuration + infra/emulator/*_override.tf + infra/emulator/e2e/) and runs this driver, which:

1. `terraform apply`s it in per-object mode and reads the deployment back from moto: the
   function's environment and timeout (GetFunctionConfiguration; its CodeSha256 must be the
   zip's), the Glue job's script, --extra-files and default arguments (GetJob);
2. uploads raw logs made by `loglake gen` (gzip, zstd, 5% bad lines, a key with spaces, `+` and
   unicode, the same bytes twice, a version that vanishes before its run) and objects the rule
   must ignore (wrong suffix, zero bytes, outside the prefix, a folder marker);
3. delivers what moto's EventBridge delivered: the rules' Lambda targets are an SQS "inbox"
   (moto cannot invoke Lambda), whose events go to the deployed `bootstrap` through a local
   Lambda Runtime API (scripts/lambda_runtime_api.py, two instances, so a duplicate delivery
   races); in batching mode the real batch queue is polled as the event source mapping would,
   with its batch size, deleting what the answer's `batchItemFailures` does not name;
4. runs every Glue run moto recorded with the real entry script from the job's ScriptLocation
   and the binary from its --extra-files, on local PySpark, with the job's default arguments
   merged with the run's; then publishes the run's "Glue Job State Change" to EventBridge, whose
   rule delivers it back to the function (restarts of failed versions included);
5. `terraform apply`s batching mode and repeats with new objects, a new version of a key from
   step 2, and a message that is not an event (it must end in the batch DLQ);
6. checks: one run per object version (max attempts for the vanished one), none for ignored
   objects; ledger items; Parquet under the right partitions with deterministic names; the
   catalog's partitions and columns; quarantine files for the bad lines; EMF counters; DLQs;
   and `loglake query --glue` (DataFusion over the Glue catalog's table) against the generated
   counts: written = generated - bad, no duplicate rows, the new version's rows replacing the
   old version's;
7. least privilege: assumes the function's and the job's roles in moto, turns moto's IAM
   enforcement on and checks the S3 calls each component makes (the transform included) are
   allowed and a few outside its job are denied (moto evaluates resources for S3 only);
8. empties the buckets and runs `terraform destroy`.

Prints progress and each check on stderr, one JSON report on stdout. Exit 1 on any mismatch.
"""

import argparse
import base64
import collections
import contextlib
import datetime as dt
import gzip
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import urllib.request
import zipfile

import boto3
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from lambda_runtime_api import LocalLambda  # noqa: E402

CHECKS = []


class Mismatch(Exception):
    """A check failed."""


def check(cond, what, detail=""):
    if not cond:
        raise Mismatch(f"{what}{': ' + str(detail) if detail != '' else ''}")
    CHECKS.append(what)
    log(f"  ok: {what}")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def step(msg):
    log(f"== {msg}")


def source_id(bucket, key):
    """DESIGN.md invariant 2: first 16 hex chars of SHA-256 of `bucket/key`."""
    return hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()[:16]


class Terraform:
    def __init__(self, infra, var_file, logs):
        self.infra, self.var_file, self.logs = infra, var_file, logs

    def run(self, *args, log_name):
        path = os.path.join(self.logs, log_name)
        t0 = time.monotonic()
        with open(path, "wb") as out:
            p = subprocess.run(["terraform", f"-chdir={self.infra}", *args], stdout=out,
                               stderr=subprocess.STDOUT)
        if p.returncode != 0:
            with open(path, errors="replace") as f:
                tail = f.read()[-4000:]
            raise Mismatch(f"terraform {args[0]} failed (exit {p.returncode}); log {path}:\n{tail}")
        return time.monotonic() - t0

    def apply(self, batching):
        return self.run("apply", "-auto-approve", "-input=false", f"-var-file={self.var_file}",
                        f"-var=batching_enabled={'true' if batching else 'false'}",
                        log_name=f"apply-{'batch' if batching else 'per-object'}.log")

    def destroy(self):
        return self.run("destroy", "-auto-approve", "-input=false", f"-var-file={self.var_file}",
                        "-var=batching_enabled=true", log_name="destroy.log")

    def outputs(self):
        p = subprocess.run(["terraform", f"-chdir={self.infra}", "output", "-json"],
                           capture_output=True, text=True, check=True)
        return {k: v["value"] for k, v in json.loads(p.stdout).items()}


class Generator:
    """Raw objects from `loglake gen`, one file per object, with what gen says it wrote."""

    def __init__(self, binary, work):
        self.binary, self.work = binary, work

    def make(self, name, seed, lines, bad_ratio=0.01, compression=None,
             start="2024-05-01T00:00:00Z"):
        out = os.path.join(self.work, "gen", name)
        shutil.rmtree(out, ignore_errors=True)
        cmd = [self.binary, "gen", "--out", out, "--files", "1", "--lines", str(lines),
               "--seed", str(seed), "--bad-ratio", str(bad_ratio), "--hours", "6",
               "--start", start]
        if compression:
            cmd.append(f"--{compression}")
        report = json.loads(subprocess.run(cmd, capture_output=True, text=True,
                                           check=True).stdout)
        (path,) = [os.path.join(out, f) for f in os.listdir(out)]
        with open(path, "rb") as f:
            body = f.read()
        return {"body": body, "lines": report["lines"], "bad_lines": report["bad_lines"],
                "path": path}


class GlueRunner:
    """Runs the runs moto's Glue recorded, as Glue would: the job's script and --extra-files
    from S3 in the driver's working directory, arguments = job defaults + run arguments."""

    def __init__(self, job_name, work, s3, glue, events):
        self.job_name, self.s3, self.glue, self.events = job_name, s3, glue, events
        self.dir = os.path.join(work, "glue-driver")
        os.makedirs(self.dir, exist_ok=True)
        self.done = {}  # run id -> record
        self.fetched = {}  # s3 uri -> ETag of the copy in self.dir
        self.order = []
        self.job = None
        self.module = None
        self.spark = None

    def load_job(self):
        """(Re)reads the job definition and fetches its artifacts from the code bucket."""
        self.job = self.glue.get_job(JobName=self.job_name)["Job"]
        script = self.job["Command"]["ScriptLocation"]
        path = self.fetch(script)
        extra = self.job["DefaultArguments"].get("--extra-files", "")
        for uri in filter(None, extra.split(",")):
            dest = self.fetch(uri)
            os.chmod(dest, os.stat(dest).st_mode | stat.S_IXUSR)
        if self.module is None:
            spec = importlib.util.spec_from_file_location(
                os.path.splitext(os.path.basename(path))[0], path)
            self.module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = self.module
            spec.loader.exec_module(self.module)
            from pyspark.sql import SparkSession
            self.spark = (SparkSession.builder.master("local[2]").appName("loglake-e2e")
                          .config("spark.ui.enabled", "false")
                          .config("spark.ui.showConsoleProgress", "false").getOrCreate())
            # Glue runs the script as __main__; here it is a module, which the Python workers
            # must be able to import to run its tasks.
            self.spark.sparkContext.addPyFile(path)
        return script, extra

    def fetch(self, uri):
        """Downloads `uri` into the driver's folder, unless the copy there has its ETag."""
        bucket, key = split_s3(uri)
        dest = os.path.join(self.dir, os.path.basename(key))
        etag = self.s3.head_object(Bucket=bucket, Key=key)["ETag"]
        if self.fetched.get(uri) != etag or not os.path.exists(dest):
            self.s3.download_file(bucket, key, dest)
            self.fetched[uri] = etag
        return dest

    def pending(self, newest_first=False):
        runs = []
        token = None
        while True:
            kw = {"JobName": self.job_name}
            if token:
                kw["NextToken"] = token
            page = self.glue.get_job_runs(**kw)
            runs += page["JobRuns"]
            token = page.get("NextToken")
            if not token:
                break
        fresh = [r for r in runs if r["Id"] not in self.done]
        return sorted(fresh, key=lambda r: r.get("StartedOn") or dt.datetime.min,
                      reverse=newest_first)

    def objects_of(self, arguments):
        """The objects a run names, read independently of the entry script (none for a
        compaction run)."""
        if arguments.get("--LOGLAKE_MODE") == "compact":
            return []
        if "--LOGLAKE_MANIFEST" in arguments:
            b, k = split_s3(arguments["--LOGLAKE_MANIFEST"])
            body = self.s3.get_object(Bucket=b, Key=k)["Body"].read().decode()
            return [json.loads(line) for line in body.splitlines() if line.strip()]
        return [{"bucket": arguments["--LOGLAKE_BUCKET"], "key": arguments["--LOGLAKE_KEY"],
                 "version": arguments["--LOGLAKE_VERSION"],
                 "version_id": arguments.get("--LOGLAKE_VERSION_ID")}]

    def run(self, run, before=None):
        run_id = run["Id"]
        arguments = dict(self.job["DefaultArguments"])
        arguments.update(run.get("Arguments") or {})
        objects = self.objects_of(arguments)
        after = before(objects) if before else None
        # Glue's own arguments first, as Glue 5.0 passes them (awsglue registers them itself).
        argv = [os.path.join(self.dir, "loglake_glue_job.py"), "--JOB_ID", "j_e2e",
                "--JOB_RUN_ID", run_id, "--JOB_NAME", self.job_name,
                "--job-bookmark-option", "job-bookmark-disable"]
        for k, v in arguments.items():
            argv += [k, v]
        captured = io.StringIO()
        cwd = os.getcwd()
        t0 = time.monotonic()
        os.chdir(self.dir)  # Glue puts --extra-files in the script's working directory
        try:
            with contextlib.redirect_stdout(captured):
                self.module.main(argv)
            state, message = "SUCCEEDED", "Job run succeeded"
        except Exception as e:  # noqa: BLE001 - a failed run is an outcome here
            state, message = "FAILED", str(e)[:2000]
        finally:
            os.chdir(cwd)
            if after:
                after()
        seconds = time.monotonic() - t0
        lines = [json.loads(line) for line in captured.getvalue().splitlines()
                 if line.startswith("{") and '"outcome"' in line]
        record = {"id": run_id, "state": state, "message": message, "objects": objects,
                  "results": lines, "seconds": round(seconds, 3),
                  "manifest": "--LOGLAKE_MANIFEST" in arguments}
        self.done[run_id] = record
        self.order.append(run_id)
        log(f"  glue run {run_id}: {state} ({len(objects)} object(s), {seconds:.2f} s)"
            + ("" if state == "SUCCEEDED" else f": {message[:300]}"))
        # What Glue publishes when the run ends; the deployed rule routes it to the function.
        out = self.events.put_events(Entries=[{
            "Source": "aws.glue", "DetailType": "Glue Job State Change",
            "Detail": json.dumps({"jobName": self.job_name, "severity":
                                  "INFO" if state == "SUCCEEDED" else "ERROR",
                                  "state": state, "jobRunId": run_id, "message": message}),
        }])
        if out.get("FailedEntryCount"):
            raise Mismatch(f"PutEvents refused the job state event: {out}")
        return record

    def stop(self):
        if self.spark is not None:
            self.spark.stop()


def split_s3(uri):
    if not uri.startswith("s3://"):
        raise Mismatch(f"not an s3:// URI: {uri}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


class Deployment:
    """The deployed system as moto holds it, and the emulated pieces around it."""

    def __init__(self, args, outputs, region):
        self.args, self.out, self.region = args, outputs, region
        self.s3 = boto3.client("s3")
        self.sqs = boto3.client("sqs")
        self.ddb = boto3.client("dynamodb")
        self.glue = boto3.client("glue")
        self.lam = boto3.client("lambda")
        self.events = boto3.client("events")
        self.fn = None
        self.fn_env = None
        self.glue_runner = GlueRunner(outputs["glue_job_name"], args.work, self.s3, self.glue,
                                      self.events)
        self.answers = []  # (phase, kind, json)
        self.async_failures = []
        self.batch_invocations = 0

    # --- the function -------------------------------------------------------------------
    def start_function(self, phase):
        """Starts the deployed function's code with its deployed configuration."""
        if self.fn is not None:
            self.fn.stop()
        cfg = self.lam.get_function_configuration(FunctionName=self.out["function_name"])
        with open(self.args.zip, "rb") as f:
            zip_bytes = f.read()
        want = base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()
        check(cfg["CodeSha256"] == want, f"{phase}: the deployed function's code is "
              f"{os.path.basename(self.args.zip)} (CodeSha256)", (cfg["CodeSha256"], want))
        check(cfg["Runtime"] == "provided.al2023" and cfg["Handler"] == "bootstrap",
              f"{phase}: runtime provided.al2023, handler bootstrap")
        bootstrap = os.path.join(self.args.work, "lambda", "bootstrap")
        os.makedirs(os.path.dirname(bootstrap), exist_ok=True)
        with zipfile.ZipFile(self.args.zip) as z:
            info = z.getinfo("bootstrap")
            check((info.external_attr >> 16) & 0o111, "the zip's bootstrap is executable")
            with open(bootstrap, "wb") as f:
                f.write(z.read("bootstrap"))
        os.chmod(bootstrap, 0o755)
        self.fn_env = dict(cfg.get("Environment", {}).get("Variables", {}))
        env = dict(self.fn_env)
        for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PATH"):
            env[k] = os.environ[k]
        env.update(AWS_REGION=self.region, AWS_DEFAULT_REGION=self.region,
                   AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="INFO")
        self.fn = LocalLambda(bootstrap, env, instances=2, timeout_s=cfg["Timeout"],
                              function_name=cfg["FunctionName"], function_arn=cfg["FunctionArn"],
                              log_prefix=os.path.join(self.args.work, f"bootstrap-{phase}"))
        init_ms = self.fn.start()
        log(f"  function {cfg['FunctionName']}: mode {self.fn_env.get('LOGLAKE_MODE')}, "
            f"timeout {cfg['Timeout']} s, init {init_ms:.1f} ms")
        return init_ms

    def emf(self):
        """Sums of the EMF counters the function printed (both instances, every phase)."""
        totals = collections.Counter()
        for phase in ("per-object", "batch"):
            for i in range(2):
                path = os.path.join(self.args.work, f"bootstrap-{phase}.{i}.log")
                if not os.path.exists(path):
                    continue
                with open(path, errors="replace") as f:
                    for line in f:
                        if '"_aws"' not in line:
                            continue
                        doc = json.loads(line)
                        for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                            totals[m["Name"]] += doc.get(m["Name"], 0)
        return totals

    # --- event delivery -----------------------------------------------------------------
    def receive_all(self, url, max_messages=None):
        msgs = []
        while max_messages is None or len(msgs) < max_messages:
            n = 10 if max_messages is None else min(10, max_messages - len(msgs))
            page = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=n,
                                            WaitTimeSeconds=0, AttributeNames=["All"])
            if not page.get("Messages"):
                break
            msgs += page["Messages"]
        return msgs

    def deliver_inbox(self, phase, duplicate=None):
        """Asynchronous invocations: one per event, queued at once (two instances take them).
        `duplicate(event)` says how many extra copies of an event to deliver (EventBridge's
        at-least-once delivery)."""
        msgs = self.receive_all(self.out["e2e_lambda_inbox_url"])
        if not msgs:
            return False
        events = []
        for m in msgs:
            event = json.loads(m["Body"])
            events.append(event)
            events += [event] * (duplicate(event) if duplicate else 0)
            self.sqs.delete_message(QueueUrl=self.out["e2e_lambda_inbox_url"],
                                    ReceiptHandle=m["ReceiptHandle"])
        retries = self.lam.get_function_event_invoke_config(
            FunctionName=self.out["function_name"])["MaximumRetryAttempts"]
        for event, answer in zip(events, self.fn.invoke_all(events)):
            tries = 0
            while answer.kind == "error" and tries < retries:
                tries += 1
                answer = self.fn.invoke(event)
            if answer.kind == "error":
                # Lambda sends the event to the function's DLQ after its retries.
                self.async_failures.append((phase, event, answer.body.decode(errors="replace")))
                self.sqs.send_message(QueueUrl=self.out["trigger_dlq_url"],
                                      MessageBody=json.dumps(event))
            self.answers.append((phase, event.get("detail-type"), answer.kind, answer.json()))
        return True

    def poll_batch_queue(self, phase):
        """The SQS event source mapping: up to BatchSize messages per invocation; the messages
        the answer names in batchItemFailures stay (visible again at once here), the others
        are deleted."""
        url = self.out.get("batch_queue_url")
        if not url:
            return False
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        (esm,) = self.lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
        if esm["FunctionArn"] != self.out["function_arn"]:
            raise Mismatch(f"the batch queue feeds {esm['FunctionArn']}, not the trigger")
        msgs = self.receive_all(url, esm["BatchSize"])
        if not msgs:
            return False
        event = {"Records": [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}), "messageAttributes": {},
            "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs", "eventSourceARN": arn,
            "awsRegion": self.region} for m in msgs]}
        answer = self.fn.invoke(event)
        self.batch_invocations += 1
        self.answers.append((phase, "sqs", answer.kind, answer.json()))
        failed = ({m["MessageId"] for m in msgs} if answer.kind == "error" else
                  {f["itemIdentifier"] for f in answer.json()["batchItemFailures"]})
        for m in msgs:
            if m["MessageId"] in failed:
                self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"],
                                                   VisibilityTimeout=0)
            else:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return True

    def settle(self, phase, duplicate=None, before_run=None, newest_first=False, max_rounds=60):
        """Delivers events, runs Glue runs and their state events until nothing moves. Glue
        does not run runs in the order they were started: `newest_first` runs each round's
        runs in reverse, so an older version of a key ends after a newer one."""
        self.glue_runner.load_job()
        for _ in range(max_rounds):
            moved = self.deliver_inbox(phase, duplicate)
            while self.poll_batch_queue(phase):
                moved = True
            for run in self.glue_runner.pending(newest_first):
                self.glue_runner.run(run, before_run)
                moved = True
            if not moved:
                return
            duplicate = None  # only the first delivery is duplicated
        raise Mismatch(f"{phase}: events and runs did not settle in {max_rounds} rounds")


def upload(s3, bucket, key, body):
    out = s3.put_object(Bucket=bucket, Key=key, Body=body)
    return out.get("VersionId")


def query(binary, database, sql):
    p = subprocess.run([binary, "query", "--glue", database, "--format", "json", sql],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise Mismatch(f"loglake query --glue {database} {sql!r} failed (exit {p.returncode}): "
                       f"{p.stderr.strip()}")
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def trace_ids(path, n):
    """Trace ids of the first `n` good lines of a generated (plain NDJSON) file."""
    out = []
    with open(path, "rb") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("trace_id"), str):
                out.append(rec["trace_id"])
            if len(out) == n:
                break
    return out


def scan(ddb, table):
    items, kw = [], {"TableName": table, "ConsistentRead": True}
    while True:
        page = ddb.scan(**kw)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def list_keys(s3, bucket, prefix=""):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def empty_bucket(s3, bucket):
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        objs = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for i in range(0, len(objs), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objs[i:i + 1000], "Quiet": True})


class E2E:
    """The run's shared state: the deployment, every object version uploaded and what each
    phase found. Each phase below is one method; `main` calls them in order."""

    def __init__(self, args):
        self.args = args
        self.region = os.environ["AWS_REGION"]
        logs = os.path.join(args.work, "logs")
        os.makedirs(logs, exist_ok=True)
        self.tf = Terraform(args.infra, args.var_file, logs)
        self.gen = Generator(args.bin, args.work)
        self.report = {"timings_s": {}}
        # Every object version that should be processed: (key, version id) -> generated data.
        self.expected = {}
        self.current = {}  # key -> version id that must be in the table at the end

    def put(self, key, data):
        v = upload(self.d.s3, self.raw, key, data["body"])
        self.expected[(key, v)] = data
        self.current[key] = v
        return v

    def deploy_per_object(self):
        step("terraform apply (per-object mode)")
        self.report["timings_s"]["apply_per_object"] = round(self.tf.apply(batching=False), 1)
        out = self.out = self.tf.outputs()
        d = self.d = Deployment(self.args, out, self.region)
        self.report["init_ms"] = {"per-object": round(d.start_function("per-object"), 1)}
        self.raw, self.clean = out["raw_bucket"], out["clean_bucket"]
        self.prefix = d.fn_env["LOGLAKE_RAW_PREFIX"]
        self.max_attempts = int(d.fn_env.get("LOGLAKE_MAX_ATTEMPTS", "3"))
        self.db, self.table = out["glue_database"], out["glue_table"]
        script, extra = d.glue_runner.load_job()
        check(script == f"s3://{out['code_bucket']}/glue/loglake_glue_job.py",
              "the job's script is the uploaded entry script", script)
        check(extra == f"s3://{out['code_bucket']}/artifacts/loglake",
              "the job's --extra-files is the uploaded loglake binary", extra)

    def upload_per_object(self):
        step("per-object mode: upload raw objects")
        gen, prefix, current, expected = self.gen, self.prefix, self.current, self.expected
        objs = self.objs = {
            "gzip": (f"{prefix}app/2024/05/01/app.ndjson.gz", gen.make("gzip", 101, 3000, 0.01, "gzip")),
            "zstd": (f"{prefix}app/2024/05/01/app.ndjson.zst", gen.make("zstd", 102, 3000, 0.01, "zstd")),
            "bad5": (f"{prefix}app/bad-lines.ndjson", gen.make("bad5", 103, 3000, 0.05)),
            "odd-key": (f"{prefix}app/with space+plus ünïcødé 日志.json", gen.make("odd", 104, 1000)),
            "twice": (f"{prefix}app/twice.ndjson", gen.make("twice", 105, 1000)),
            "versioned": (f"{prefix}app/versioned.ndjson", gen.make("v1", 106, 1500)),
            "vanishes": (f"{prefix}app/vanishes.ndjson", gen.make("vanishes", 107, 500)),
            "drift": (f"{prefix}app/table-drift.ndjson", gen.make("drift", 108, 800)),
            "race": (f"{prefix}app/race.ndjson", gen.make("race-v1", 109, 1200)),
        }
        for name, (key, data) in objs.items():
            self.put(key, data)
        # The same bytes again: a second version of the key (its rows replace the first's).
        self.put(objs["twice"][0], objs["twice"][1])
        # Two different versions of one key back to back: both runs start; the newer one's rows
        # must win whichever run ends last.
        race_key = objs["race"][0]
        race_v1 = current[race_key]
        # (In other hours than the first: the first version's files must go, not just be
        # rewritten.)
        self.race_v2 = gen.make("race-v2", 110, 900, start="2024-05-01T12:00:00Z")
        self.put(race_key, self.race_v2)
        self.superseded = {(race_key, race_v1): current[race_key],
                           (objs["twice"][0], [v for (k, v) in expected if k == objs["twice"][0]][0]):
                           current[objs["twice"][0]]}
        check(objs["bad5"][1]["bad_lines"] >= 100, "the 5% file has >= 100 bad lines",
              objs["bad5"][1]["bad_lines"])
        self.ignored = {
            f"{prefix}app/notes.txt": objs["odd-key"][1]["body"],  # suffix not accepted
            f"{prefix}app/empty.ndjson": b"",                        # zero bytes
            f"{prefix}app/folder/": b"",                             # folder marker
            "elsewhere/app.ndjson": objs["odd-key"][1]["body"],      # outside the prefix
        }
        for key, body in self.ignored.items():
            upload(self.d.s3, self.raw, key, body)
        self.vanishing_key = objs["vanishes"][0]
        self.vanishing_version = current.pop(self.vanishing_key)
        self.expected_failed = {(self.vanishing_key, self.vanishing_version)}
        del expected[(self.vanishing_key, self.vanishing_version)]
        self.drift_key = objs["drift"][0]
        self.drift_version = current[self.drift_key]

    def before_run(self, objects):
        """Before a Glue run: faults some of its objects meet while it runs."""
        d, db, table = self.d, self.db, self.table
        names = {(o["key"], o.get("version_id")) for o in objects}
        if (self.vanishing_key, self.vanishing_version) in names:
            # The version is deleted after its run was started: the run must fail, be
            # restarted by the function until max attempts, and stay FAILED.
            with contextlib.suppress(Exception):
                d.s3.delete_object(Bucket=self.raw, Key=self.vanishing_key,
                                   VersionId=self.vanishing_version)
        if (self.drift_key, self.drift_version) not in names:
            return None
        # Someone changes the catalog table by hand while this object's runs happen: the
        # transform refuses to write (the table disagrees with the schema), the runs fail.
        original = d.glue.get_table(DatabaseName=db, Name=table)["Table"]
        table_input = {k: original[k] for k in (
            "Name", "Description", "TableType", "Parameters", "PartitionKeys",
            "StorageDescriptor") if k in original}
        broken = json.loads(json.dumps(table_input, default=str))
        for c in broken["StorageDescriptor"]["Columns"]:
            if c["Name"] == "status":
                c["Type"] = "string"
        d.glue.update_table(DatabaseName=db, TableInput=broken)
        return lambda: d.glue.update_table(DatabaseName=db, TableInput=table_input)

    def run_per_object(self):
        gzip_key = self.objs["gzip"][0]

        def duplicate(event):
            # EventBridge delivers at least once: the gzip object's event arrives three times
            # at the same moment, to two function instances.
            obj = event.get("detail", {}).get("object", {})
            return 2 if obj.get("key") in (gzip_key, gzip_key.replace(" ", "+")) else 0

        step("per-object mode: events -> function -> Glue runs -> state events")
        t_phase = time.monotonic()
        d, out, max_attempts = self.d, self.out, self.max_attempts
        d.settle("per-object", duplicate=duplicate, before_run=self.before_run, newest_first=True)
        self.report["timings_s"]["per_object_phase"] = round(time.monotonic() - t_phase, 1)
        per_object_outcomes = collections.Counter()
        for phase, kind, answer_kind, body in d.answers:
            if kind == "Object Created" and answer_kind == "response":
                for o in body["objects"]:
                    per_object_outcomes[o["outcome"]] += 1
        started_versions = len(self.expected) + 1  # + the vanishing one
        check(per_object_outcomes["started"] == started_versions,
              f"per-object: {started_versions} object versions started once each",
              dict(per_object_outcomes))
        check(per_object_outcomes["duplicate"] == 2,
              "per-object: the event delivered 3 times at once gave 2 duplicates",
              dict(per_object_outcomes))
        check(not d.async_failures, "per-object: no invocation failed", d.async_failures[:2])
        drift_id = f"s3://{self.raw}/{self.drift_key}#{self.drift_version}"
        item = d.ddb.get_item(TableName=out["ledger_table"], Key={"id": {"S": drift_id}},
                              ConsistentRead=True)["Item"]
        check(item["status"]["S"] == "FAILED" and item["attempts"]["N"] == str(max_attempts)
              and "disagrees with the schema file" in item["error"]["S"],
              f"per-object: the object whose table was changed by hand is FAILED after "
              f"{max_attempts} attempts, the error naming the mismatch",
              (item["status"]["S"], item["attempts"]["N"], item.get("error", {}).get("S", "")[:300]))

    def run_batch(self):
        step("terraform apply (batching mode)")
        d = self.d
        self.report["timings_s"]["apply_batch"] = round(self.tf.apply(batching=True), 1)
        out = self.out = d.out = self.tf.outputs()
        self.report["init_ms"]["batch"] = round(d.start_function("batch"), 1)
        check(d.fn_env.get("LOGLAKE_MODE") == "batch", "the deployed function is in batch mode")
        check(bool(out.get("batch_queue_url")), "the batch queue exists")

        step("batching mode: upload raw objects, a new version, a broken message")
        t_phase = time.monotonic()
        prefix, gen = self.prefix, self.gen
        batch_objs = {f"batch-{i}": (f"{prefix}batch/2024/05/02/app-{i}.ndjson.gz",
                                     gen.make(f"batch-{i}", 200 + i, 2000, 0.01, "gzip"))
                      for i in range(3)}
        for key, data in batch_objs.values():
            self.put(key, data)
        self.versioned_key = self.objs["versioned"][0]
        self.v2 = gen.make("v2", 206, 1000, start="2024-05-01T12:00:00Z")
        self.put(self.versioned_key, self.v2)
        self.broken = "this message is not an event"
        d.sqs.send_message(QueueUrl=out["batch_queue_url"], MessageBody=self.broken)
        # docs/operations.md, "Re-running a failed object": the table is right again (Terraform
        # put it back), so the exhausted version gets one more attempt from a workstation.
        env = dict(os.environ, **d.fn_env, LOGLAKE_MAX_ATTEMPTS=str(self.max_attempts + 1))
        p = subprocess.run([self.args.bin, "backfill", "--raw", f"s3://{self.raw}/{self.drift_key}"],
                           env=env, capture_output=True, text=True)
        lines = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
        check(p.returncode == 0
              and [(x["key"], x["outcome"]) for x in lines] == [(self.drift_key, "started")],
              "re-run: `LOGLAKE_MAX_ATTEMPTS=4 loglake backfill --raw s3://…/<key>` starts the "
              "failed version again", (p.returncode, lines, p.stderr[-500:]))
        d.settle("batch")
        self.report["timings_s"]["batch_phase"] = round(time.monotonic() - t_phase, 1)

    def check_runs(self):
        """Glue runs: one per version (max attempts for the failing ones), batches bounded,
        failed runs only where a fault was injected, each naming why."""
        step("checks")
        d, args, raw = self.d, self.args, self.raw
        expected, max_attempts = self.expected, self.max_attempts
        drift_key, drift_version = self.drift_key, self.drift_version
        vanishing_key, expected_failed = self.vanishing_key, self.expected_failed
        runs = [d.glue_runner.done[r] for r in d.glue_runner.order]
        per_version = collections.Counter()
        for r in runs:
            for o in r["objects"]:
                check(o["bucket"] == raw, f"run {r['id']} reads the raw bucket", o)
                per_version[(o["key"], o.get("version_id"))] += 1
        runs_of = {(drift_key, drift_version): max_attempts + 1}  # + the re-run
        for ver in expected:
            want = runs_of.get(ver, 1)
            check(per_version[ver] == want, f"{want} Glue run(s) for {ver[0]} version {ver[1][:8]}",
                  per_version[ver])
        for ver in expected_failed:
            check(per_version[ver] == max_attempts,
                  f"{max_attempts} runs (max attempts) for the vanished version", per_version[ver])
        extra_runs = set(per_version) - set(expected) - expected_failed
        check(not extra_runs, "no Glue run for ignored objects (suffix, empty, folder, prefix)",
              extra_runs)
        batch_runs = [r for r in runs if r["manifest"]]
        check(len(batch_runs) >= 2 and all(len(r["objects"]) <= int(
            tf_var(args.var_file, "batch_size")) for r in batch_runs),
            "batching: runs over manifests of at most batch_size objects", len(batch_runs))
        failed_runs = [r for r in runs if r["state"] != "SUCCEEDED"]
        why = collections.Counter(
            "vanished" if vanishing_key in r["message"] and "not found" in r["message"] else
            "drift" if drift_key in r["message"] and "disagrees with the schema" in r["message"] else
            "other" for r in failed_runs)
        check(why == {"vanished": max_attempts, "drift": max_attempts},
              "failed runs: only the vanished version's and the drifted table's, each naming why",
              [(r["id"], r["message"][:200]) for r in failed_runs])
        self.runs, self.runs_of, self.batch_runs = runs, runs_of, batch_runs

    def check_ledger(self):
        """Ledger items read straight from DynamoDB: every state and attempt count."""
        d, out, raw = self.d, self.out, self.raw
        expected, current, max_attempts = self.expected, self.current, self.max_attempts
        runs_of, superseded, ignored = self.runs_of, self.superseded, self.ignored
        vanishing_key, vanishing_version = self.vanishing_key, self.vanishing_version
        versioned_key = self.versioned_key
        items = {i["id"]["S"]: i for i in scan(d.ddb, out["ledger_table"])}
        for key, v in expected:
            item = items.get(f"s3://{raw}/{key}#{v}")
            attempts = str(runs_of.get((key, v), 1))
            check(item is not None and item["status"]["S"] == "SUCCEEDED"
                  and item["attempts"]["N"] == attempts,
                  f"ledger: {key} version {v[:8]} SUCCEEDED on attempt {attempts}",
                  item and (item["status"]["S"], item["attempts"]["N"]))
        for (key, v), newer in superseded.items():
            item = items[f"s3://{raw}/{key}#{v}"]
            check(item.get("superseded_by", {}).get("S") == newer,
                  f"ledger: {key} version {v[:8]}, whose run ended after the newer version's, is "
                  f"superseded_by it (not published)", item.get("superseded_by"))
        item = items.get(f"s3://{raw}/{vanishing_key}#{vanishing_version}")
        check(item is not None and item["status"]["S"] == "FAILED"
              and item["attempts"]["N"] == str(max_attempts),
              f"ledger: the vanished version FAILED after {max_attempts} attempts",
              item and (item["status"]["S"], item["attempts"]["N"]))
        versions = {i for i in items if i.startswith("s3://")}
        ignored_items = [i for i in versions if any(f"/{k}#" in i for k in ignored)]
        check(not ignored_items, "ledger: no item for ignored objects", ignored_items)
        key_item = items.get(f"latest:s3://{raw}/{versioned_key}")
        check(key_item is not None and key_item["latest_id"]["S"].endswith(current[versioned_key]),
              "ledger: the key item names the newest version", key_item)

    def check_clean(self):
        """Clean bucket: deterministic names under the right partitions, rows = generated - bad."""
        d, out, raw, clean = self.d, self.out, self.raw, self.clean
        expected, current = self.expected, self.current
        table = self.table
        table = out["glue_table"]
        keys = list_keys(d.s3, clean, f"clean/{table}/")
        parquet = [k for k in keys if k.endswith(".parquet")]
        pattern = re.compile(rf"^clean/{table}/dt=(\d{{4}}-\d{{2}}-\d{{2}})/hr=(\d{{2}})/"
                             r"part-([0-9a-f]{16})-(\d+)\.parquet$")
        sids = {source_id(raw, k): k for k in current}
        rows_by_partition = collections.Counter()
        rows_by_source = collections.Counter()
        for k in parquet:
            m = pattern.match(k)
            check(m is not None, f"output name {k} follows the layout", k)
            day, hour, sid = m.group(1), m.group(2), m.group(3)
            check(sid in sids, f"{k} belongs to a current object", sid)
            t = pq.read_table(io.BytesIO(d.s3.get_object(Bucket=clean, Key=k)["Body"].read()))
            lo = dt.datetime.fromisoformat(f"{day}T{hour}:00:00+00:00")
            ts = t.column("ts").to_pylist()
            check(all(lo <= x < lo + dt.timedelta(hours=1) for x in ts),
                  f"{k}: every ts is inside dt={day}/hr={hour}")
            rows_by_partition[f"dt={day}/hr={hour}"] += t.num_rows
            rows_by_source[sids[sid]] += t.num_rows
        want_rows = {key: expected[(key, v)]["lines"] - expected[(key, v)]["bad_lines"]
                     for key, v in current.items()}
        check(dict(rows_by_source) == want_rows,
              "Parquet rows per object = generated lines - bad lines (current versions only)",
              (dict(rows_by_source), want_rows))
        total = sum(want_rows.values())
        self.rows_by_partition, self.total, self.parquet = rows_by_partition, total, parquet

    def check_catalog(self):
        """The Glue table and partitions against the files and the schema file."""
        d, out, args = self.d, self.out, self.args
        table, rows_by_partition = self.table, self.rows_by_partition
        partitions = []
        for page in d.glue.get_paginator("get_partitions").paginate(
                DatabaseName=out["glue_database"], TableName=table):
            partitions += page["Partitions"]
        tbl = d.glue.get_table(DatabaseName=out["glue_database"], Name=table)["Table"]
        location = tbl["StorageDescriptor"]["Location"].rstrip("/")
        registered = {"/".join(f"{k['Name']}={v}" for k, v in zip(tbl["PartitionKeys"], p["Values"]))
                      for p in partitions}
        check(registered == set(rows_by_partition),
              f"catalog: the {len(registered)} registered partitions are exactly those with files",
              (sorted(registered ^ set(rows_by_partition)))[:5])
        check(all(p["StorageDescriptor"]["Location"].rstrip("/") == location + "/" + "/".join(
            f"{k['Name']}={v}" for k, v in zip(tbl["PartitionKeys"], p["Values"]))
            for p in partitions), "catalog: each partition's location is its folder")
        with open(args.schema) as f:
            schema = json.load(f)
        want_cols = [(c["name"], c["type"]) for c in schema["columns"]] + [
            (schema["attributes_column"], "string")]
        got_cols = [(c["Name"], c["Type"]) for c in tbl["StorageDescriptor"]["Columns"]]
        check(got_cols == want_cols, "catalog: the table's columns are the schema file's",
              (got_cols, want_cols))
        check([k["Name"] for k in tbl["PartitionKeys"]] == [k["name"] for k in schema["partition_keys"]],
              "catalog: partition keys are the schema's")
        check(not any(k.startswith("projection.") for k in tbl.get("Parameters", {})),
              "catalog: no partition projection (Athena reads the catalog's partitions)")
        self.registered = registered

    def check_quarantine(self):
        """Quarantine: one gzip NDJSON per object with bad lines, one record per bad line."""
        d, raw, clean = self.d, self.raw, self.clean
        expected, current = self.expected, self.current
        table = self.table
        for key, v in current.items():
            data = expected[(key, v)]
            qkey = f"quarantine/{table}/{source_id(raw, key)}.ndjson.gz"
            try:
                body = d.s3.get_object(Bucket=clean, Key=qkey)["Body"].read()
            except d.s3.exceptions.NoSuchKey:
                body = None
            if data["bad_lines"] == 0:
                check(body is None or gzip.decompress(body) == b"", f"no quarantine for {key}")
                continue
            check(body is not None, f"quarantine object for {key}", qkey)
            recs = [json.loads(x) for x in gzip.decompress(body).splitlines() if x.strip()]
            check(len(recs) == data["bad_lines"],
                  f"quarantine for {key}: {data['bad_lines']} records, one per bad line", len(recs))
            check(all({"source", "line", "reason"} <= set(r) and ("raw" in r or "raw_base64" in r)
                      for r in recs), f"quarantine records of {key} carry source, line, reason, raw")

    def check_queries(self):
        """DataFusion through the Glue catalog: counts, no duplicates, replaced versions gone."""
        out, args = self.out, self.args
        table, total, rows_by_partition = self.table, self.total, self.rows_by_partition
        objs, v2, race_v2 = self.objs, self.v2, self.race_v2
        db = out["glue_database"]
        (row,) = query(args.bin, db, f"SELECT count(*) AS n, count(DISTINCT trace_id) AS d FROM {table}")
        check(row["n"] == total, f"query: {total} rows = generated - bad over current versions", row)
        check(row["d"] == row["n"], "query: no duplicate rows (distinct trace ids = rows)", row)
        by_part = query(args.bin, db, f"SELECT dt, hr, count(*) AS n FROM {table} GROUP BY dt, hr")
        check({f"dt={r['dt']}/hr={r['hr']}": r["n"] for r in by_part} == dict(rows_by_partition),
              "query: rows per partition = Parquet rows per partition")
        old = trace_ids(objs["versioned"][1]["path"], 50)
        new = trace_ids(v2["path"], 50)
        in_list = lambda ids: ",".join(f"'{i}'" for i in ids)  # noqa: E731
        (row,) = query(args.bin, db, f"SELECT count(*) AS n FROM {table} WHERE trace_id IN ({in_list(old)})")
        check(row["n"] == 0, "query: the replaced version's rows are gone", row)
        (row,) = query(args.bin, db, f"SELECT count(*) AS n FROM {table} WHERE trace_id IN ({in_list(new)})")
        check(row["n"] == len(new), "query: the new version's rows are there", row)
        old = trace_ids(objs["race"][1]["path"], 50)
        new = trace_ids(race_v2["path"], 50)
        (row,) = query(args.bin, db, f"SELECT count(*) AS n FROM {table} WHERE trace_id IN ({in_list(old)})")
        check(row["n"] == 0, "query: a version whose run ended last, after a newer version's, left "
              "no rows", row)
        (row,) = query(args.bin, db, f"SELECT count(*) AS n FROM {table} WHERE trace_id IN ({in_list(new)})")
        check(row["n"] == len(new), "query: the newer version's rows are there", row)

    def run_compaction(self):
        """The compaction schedule's run: the request its universal target sends (the
        schedule's Input, read from moto's Scheduler) started as a Glue run and executed by the
        job's own script; then locations, rows through the catalog, and the ledger's claims."""
        step("compaction: the schedule's run, partitions switched in the catalog")
        d, out, args = self.d, self.out, self.args
        target = boto3.client("scheduler").get_schedule(
            Name=out["compaction_schedule_name"])["Target"]
        check(target["Arn"] == "arn:aws:scheduler:::aws-sdk:glue:startJobRun",
              "compaction: the schedule's target is glue:StartJobRun", target["Arn"])
        request = json.loads(target["Input"])
        check(request["JobName"] == out["glue_job_name"]
              and request["Arguments"]["--LOGLAKE_MODE"] == "compact",
              "compaction: the schedule starts the transform job in compaction mode", request)
        run_id = d.glue.start_job_run(**request)["JobRunId"]
        (run,) = [r for r in d.glue_runner.pending() if r["Id"] == run_id]
        record = d.glue_runner.run(run)
        check(record["state"] == "SUCCEEDED", "compaction: the run succeeded", record["message"])
        compacted = [r for r in record["results"] if r.get("outcome") == "compacted"]
        check(compacted, "compaction: partitions with two or more files were compacted",
              record["results"][:3])
        location = d.glue.get_table(DatabaseName=self.db, Name=self.table)["Table"][
            "StorageDescriptor"]["Location"].rstrip("/")
        parts = {p["StorageDescriptor"]["Location"].rstrip("/"): p
                 for p in d.glue.get_partitions(DatabaseName=self.db, TableName=self.table)[
                     "Partitions"]}
        for r in compacted:
            loc = f"{location}/gen-1/{r['partition']}"
            check(loc in parts and parts[loc]["Parameters"].get("loglake.generation") == "1",
                  f"compaction: {r['partition']} reads from gen-1 in the catalog", loc)
            item = d.ddb.get_item(TableName=out["ledger_table"], Key={
                "id": {"S": f"{location}/{r['partition']}#compact-g0"}}).get("Item", {})
            check(item.get("status", {}).get("S") == "SUCCEEDED",
                  f"compaction: {r['partition']}'s claim is SUCCEEDED in the ledger", item)
        (row,) = query(args.bin, self.db,
                       f"SELECT count(*) AS n, count(DISTINCT trace_id) AS d FROM {self.table}")
        check(row["n"] == self.total and row["d"] == self.total,
              "compaction: query --glue counts every row once after the switch", row)
        by_part = query(args.bin, self.db,
                        f"SELECT dt, hr, count(*) AS n FROM {self.table} GROUP BY dt, hr")
        check({f"dt={r['dt']}/hr={r['hr']}": r["n"] for r in by_part}
              == dict(self.rows_by_partition),
              "compaction: rows per partition unchanged")
        files_before = sum(r["files_before"] for r in compacted)
        files_after = sum(r["files_after"] for r in compacted)
        self.report["compaction"] = {"partitions": len(compacted), "files_before": files_before,
                                     "files_after": files_after,
                                     "seconds": record["seconds"]}

    def check_emf_and_queues(self):
        """The function's own counters, the dead-letter queues, and the run's report."""
        d, out = self.d, self.out
        expected = self.expected
        runs, batch_runs, total = self.runs, self.batch_runs, self.total
        expected_failed, registered, parquet = self.expected_failed, self.registered, self.parquet
        report = self.report
        emf = d.emf()
        # The re-run was started by `loglake backfill`, not by the function.
        check(emf["RunsStarted"] == len(runs) - 1,
              f"EMF: RunsStarted = {len(runs) - 1} Glue runs (+ 1 started by the backfill)", dict(emf))
        check(emf["AttemptsExhausted"] == 2, "EMF: two versions exhausted their attempts (the vanished "
              "one, the drifted table's before its re-run)", dict(emf))
        dlq = d.receive_all(out["e2e_batch_dlq_url"])
        check([m["Body"] for m in dlq] == [self.broken],
              "batching: the message that is not an event ended in the batch DLQ (redrive policy)",
              [m["Body"] for m in dlq])
        for name in ("trigger_dlq_url", "events_dlq_url"):
            check(not d.receive_all(out[name]), f"{name.replace('_url', '')} is empty")

        report.update({
            "checks": len(CHECKS), "glue_runs": len(runs),
            "glue_runs_per_object": len(runs) - len(batch_runs), "glue_runs_batch": len(batch_runs),
            "batch_invocations": d.batch_invocations,
            "object_versions": len(expected) + len(expected_failed), "rows": total,
            "partitions": len(registered), "parquet_files": len(parquet),
            "glue_run_seconds": sorted(r["seconds"] for r in runs),
            "emf": dict(emf),
        })


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--infra", required=True, help="initialised scratch copy of infra/")
    ap.add_argument("--var-file", required=True)
    ap.add_argument("--zip", required=True, help="the trigger_glue.zip Terraform deploys")
    ap.add_argument("--bin", required=True, help="the loglake binary (gen, query)")
    ap.add_argument("--schema", required=True)
    ap.add_argument("--work", required=True)
    e = E2E(ap.parse_args())
    t_all = time.monotonic()
    e.deploy_per_object()
    e.upload_per_object()
    e.run_per_object()
    e.run_batch()
    for phase in (e.check_runs, e.check_ledger, e.check_clean, e.check_catalog,
                  e.check_quarantine, e.check_queries, e.check_emf_and_queues):
        phase()
    e.run_compaction()
    e.d.fn.stop()
    e.d.glue_runner.stop()

    step("least privilege: the roles' own credentials under moto's IAM enforcement (S3)")
    e.report["iam_checked_calls"] = least_privilege(e.d, e.args, e.out, e.objs["gzip"][0])

    step("empty the buckets, terraform destroy")
    for b in (e.raw, e.clean, e.out["code_bucket"]):
        empty_bucket(e.d.s3, b)
    e.report["timings_s"]["destroy"] = round(e.tf.destroy(), 1)
    e.report["timings_s"]["total"] = round(time.monotonic() - t_all, 1)
    print(json.dumps(e.report, indent=2))
    log(f"e2e ok: {len(CHECKS)} checks passed")


def least_privilege(d, args, out, sample_key):
    """The roles Terraform created, used with their own credentials (assumed in moto), with
    moto's IAM enforcement on (docs/aws-contracts.md I1). moto evaluates resource ARNs for S3
    only (other services' calls are matched against "*", which no scoped statement names), so
    this checks the S3 calls each component makes and a few it must not be able to make.
    Returns the number of calls made under enforcement."""
    raw, clean, code = out["raw_bucket"], out["clean_bucket"], out["code_bucket"]
    sts = boto3.client("sts")
    roles = {
        "trigger": d.lam.get_function_configuration(FunctionName=out["function_name"])["Role"],
        "glue": d.glue.get_job(JobName=out["glue_job_name"])["Job"]["Role"],
    }
    creds = {}
    for name, arn in roles.items():
        c = sts.assume_role(RoleArn=arn, RoleSessionName=f"e2e-{name}")["Credentials"]
        creds[name] = {"AWS_ACCESS_KEY_ID": c["AccessKeyId"],
                       "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
                       "AWS_SESSION_TOKEN": c["SessionToken"]}

    def s3_as(name):
        c = creds[name]
        return boto3.client("s3", aws_access_key_id=c["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=c["AWS_SECRET_ACCESS_KEY"],
                            aws_session_token=c["AWS_SESSION_TOKEN"])

    def outcome(call):
        try:
            call()
            return "allowed"
        except d.s3.exceptions.ClientError as e:
            code_ = e.response.get("Error", {}).get("Code", "")
            return "denied" if code_ in ("AccessDenied", "403") else code_

    def enforce(value):
        # Not a form content type: moto reads the raw body (the number of unchecked requests).
        req = urllib.request.Request(f"{os.environ['AWS_ENDPOINT_URL']}/moto-api/reset-auth",
                                     data=value.encode(), method="POST",
                                     headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(req, timeout=30).read()

    calls = []

    def expect(who, what, call, want):
        got = outcome(call)
        calls.append((who, what, got))
        check(got == want, f"IAM: the {who} role: {what} is {want}", got)

    trigger, glue = s3_as("trigger"), s3_as("glue")
    missing = f"{sample_key}.missing"
    enforce("0")
    try:
        # The trigger: HeadObject of raw objects (a missing one must be a 404, not a 403),
        # batch manifests in the code bucket; nothing else in the raw bucket.
        expect("trigger", "HeadObject of a raw object", lambda: trigger.head_object(
            Bucket=raw, Key=sample_key), "allowed")
        expect("trigger", "HeadObject of a missing raw key", lambda: trigger.head_object(
            Bucket=raw, Key=missing), "404")
        expect("trigger", "PutObject of a batch manifest", lambda: trigger.put_object(
            Bucket=code, Key="tmp/manifests/iam-check.jsonl", Body=b"{}\n"), "allowed")
        expect("trigger", "GetObject of a batch manifest", lambda: trigger.get_object(
            Bucket=code, Key="tmp/manifests/iam-check.jsonl")["Body"].read(), "allowed")
        expect("trigger", "DeleteObject of a raw object", lambda: trigger.delete_object(
            Bucket=raw, Key=sample_key), "denied")
        expect("trigger", "PutObject into the raw bucket", lambda: trigger.put_object(
            Bucket=raw, Key=f"{sample_key}.x", Body=b"x"), "denied")
        expect("trigger", "ListBucket on the clean bucket", lambda: trigger.list_objects_v2(
            Bucket=clean, Prefix="clean/"), "denied")
        # The Glue job: what the entry script reads itself ...
        expect("glue", "GetObject of the schema", lambda: glue.get_object(
            Bucket=code, Key=f"schemas/{out['glue_table']}.json")["Body"].read(), "allowed")
        expect("glue", "GetObject of a batch manifest", lambda: glue.get_object(
            Bucket=code, Key="tmp/manifests/iam-check.jsonl")["Body"].read(), "allowed")
        expect("glue", "HeadObject of a raw object", lambda: glue.head_object(
            Bucket=raw, Key=sample_key), "allowed")
        expect("glue", "DeleteObject of a raw object", lambda: glue.delete_object(
            Bucket=raw, Key=sample_key), "denied")
        expect("glue", "PutObject into the code bucket's artifacts", lambda: glue.put_object(
            Bucket=code, Key="artifacts/loglake", Body=b"x"), "denied")
        # ... and the transform itself, the loglake binary with only the role's credentials:
        # read the raw object, write Parquet and quarantine, rewrite its manifest.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(creds["glue"], AWS_ENDPOINT_URL=os.environ["AWS_ENDPOINT_URL"],
                   AWS_REGION=os.environ["AWS_REGION"], AWS_EC2_METADATA_DISABLED="true")
        p = subprocess.run([args.bin, "transform", "--quiet", "--input", f"s3://{raw}/{sample_key}",
                            "--output", f"s3://{clean}", "--schema", args.schema],
                           capture_output=True, text=True, env=env, timeout=300)
        summary = json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else {}
        calls.append(("glue", "loglake transform s3 -> s3", p.returncode))
        check(p.returncode in (0, 1) and summary.get("records_written", 0) > 0,
              "IAM: the Glue role's credentials suffice for the transform's S3 reads and writes",
              (p.returncode, p.stderr[-800:]))
    finally:
        enforce("inf")
    return len(calls)


def tf_var(var_file, name):
    with open(var_file) as f:
        return json.load(f)[name]


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pymain
    pymain.run(main, Mismatch)
