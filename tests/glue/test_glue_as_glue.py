"""The Glue entry script run the way Glue 5.0 runs it, under AWS's own Glue library.

A separate process: `python glue/loglake_glue_job.py` with Glue's reserved arguments in argv
(--JOB_ID, --JOB_RUN_ID, --JOB_NAME, --job-bookmark-option, --TempDir) followed by the job's
default arguments as infra/glue_job.tf sets them and the run's own, the `loglake` binary in the
working directory (where --extra-files puts it), `awsglue` from AWSGlueDataplanePython 5.0.0
importable, local PySpark, moto. Then, against independent truth:
- exit 0, and the rows in the Parquet files (read back with pyarrow) equal the generator's own
  report (lines - bad lines); partitions in the catalog; every ledger item SUCCEEDED;
- the region and credentials: resources live in eu-west-1, the script's environment has no region
  variables and its credentials only in a shared credentials file, and each `loglake` subprocess
  must receive the region and the credentials explicitly and nothing else to find them with
  (a wrapper in place of the binary records the environment it was given).

Before the fix this process died in getResolvedOptions with `argparse.ArgumentError: argument
--JOB_RUN_ID: conflicting option string: --JOB_RUN_ID`.

Run by scripts/test.sh (needs LOGLAKE_MOTO_URL, LOGLAKE_BIN = the CLI for `gen`, and
LOGLAKE_GLUE_BIN = the Glue artifact, `loglake` built without its `local` feature).
"""

import io
import json
import os
import subprocess
import sys
import tempfile
import uuid

import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import test_glue_job as base  # noqa: E402

REGION = "eu-west-1"
KEY_ID, SECRET = "AKIDLOGLAKEGLUETEST", "secret-from-the-shared-credentials-file"


class Failed(Exception):
    pass


def check(ok, what):
    if not ok:
        raise Failed(what)


def generate(bin_path, out):
    """Generated logs and the generator's own report (the truth the rows are checked against)."""
    p = subprocess.run([bin_path, "gen", "--out", out, "--files", "2", "--lines", "3000",
                        "--seed", "17", "--gzip", "--bad-ratio", "0.02"],
                       capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


def job_dir(real_binary, dump):
    """The script's working directory as Glue prepares it: the --extra-files binary in it. Here
    the `loglake` there is a wrapper that records the environment it was started with."""
    d = tempfile.mkdtemp(prefix="glue-job-")
    wrapper = os.path.join(d, "loglake")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\n"
                f"env > '{dump}/env-'$$\n"
                f"exec '{real_binary}' \"$@\"\n")
    os.chmod(wrapper, 0o755)
    return d


def glue_argv(names, run_id, manifest):
    """Glue's reserved arguments, then the job's defaults (infra/glue_job.tf), then the run's."""
    reserved = ["--JOB_ID", "j_" + uuid.uuid4().hex, "--JOB_RUN_ID", run_id,
                "--JOB_NAME", "loglake-transform", "--job-bookmark-option",
                "job-bookmark-disable", "--TempDir", f"s3://{names['code']}/tmp/glue/"]
    defaults = {
        "--job-language": "python",
        "--enable-metrics": "true",
        "--enable-observability-metrics": "true",
        "--LOGLAKE_OUTPUT": f"s3://{names['clean']}",
        "--LOGLAKE_SCHEMA": f"s3://{names['code']}/schemas/app_logs.json",
        "--LOGLAKE_DATABASE": names["db"],
        "--LOGLAKE_TABLE": "app_logs",
        "--LOGLAKE_LEDGER_TABLE": names["ledger"],
        "--LOGLAKE_REGION": REGION,
    }
    argv = [sys.executable, os.path.join(ROOT, "glue", "loglake_glue_job.py")] + reserved
    for k, v in defaults.items():
        argv += [k, v]
    return argv + ["--LOGLAKE_MANIFEST", manifest]


def glue_env(url, creds_dir):
    """No region variables; credentials only in a shared credentials file."""
    os.makedirs(creds_dir, exist_ok=True)
    creds = os.path.join(creds_dir, "credentials")
    with open(creds, "w") as f:
        f.write(f"[default]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n")
    config = os.path.join(creds_dir, "config")
    open(config, "w").close()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k not in ("LOGLAKE_BIN", "LOGLAKE_GLUE_BIN")}
    env.update(AWS_ENDPOINT_URL=url, AWS_SHARED_CREDENTIALS_FILE=creds, AWS_CONFIG_FILE=config,
               PYSPARK_PYTHON=sys.executable,
               PYSPARK_SUBMIT_ARGS="--master local[2] --conf spark.ui.enabled=false pyspark-shell")
    return env


def main():
    url = os.environ["LOGLAKE_MOTO_URL"]
    real_binary = os.environ["LOGLAKE_GLUE_BIN"]
    cli = os.environ["LOGLAKE_BIN"]
    # This process sets up moto with its own keys; the job process gets none of them.
    os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="testing",
                      AWS_SECRET_ACCESS_KEY="testing")
    tag = uuid.uuid4().hex[:8]
    s3, ddb, glue, names, location = base.setup(tag, REGION)
    work = tempfile.mkdtemp(prefix="glue-as-glue-")
    report = generate(cli, os.path.join(work, "raw"))
    run_id = "jr_" + tag
    objects = []
    for i, path in enumerate(report["files"]):
        objects.append(base.put(s3, names["raw"], f"logs/app-{i}.ndjson.gz", path))
        base.claim_started(ddb, names["ledger"], objects[-1], run_id)
    manifest = base.write_manifest(s3, names, run_id, objects)

    dump = os.path.join(work, "env")
    os.makedirs(dump)
    p = subprocess.run(glue_argv(names, run_id, manifest), cwd=job_dir(real_binary, dump),
                       env=glue_env(url, work), capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-6000:])
    check(p.returncode == 0, f"the entry script exited {p.returncode} (its stderr is above)")

    rows = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=names["clean"],
                                                             Prefix="clean/app_logs/"):
        for o in page.get("Contents", []):
            if not o["Key"].endswith(".parquet"):
                continue  # the per-source manifests
            body = s3.get_object(Bucket=names["clean"], Key=o["Key"])["Body"].read()
            rows += pq.read_table(io.BytesIO(body)).num_rows
    want = report["lines"] - report["bad_lines"]
    check(rows == want, f"rows in Parquet {rows} != generated {report['lines']} - bad "
                        f"{report['bad_lines']} = {want}")
    parts = glue.get_partitions(DatabaseName=names["db"], TableName="app_logs")["Partitions"]
    check(len(parts) > 0, "no partitions registered in the eu-west-1 catalog")
    for o in objects:
        st = base.status(ddb, names["ledger"], o)
        check(st == ("SUCCEEDED", None), f"ledger item of {o['key']}: {st}")

    envs = []
    for name in sorted(os.listdir(dump)):
        with open(os.path.join(dump, name)) as f:
            envs.append(dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line))
    check(len(envs) >= len(objects), f"{len(envs)} loglake processes for {len(objects)} objects")
    for e in envs:
        check(e.get("AWS_REGION") == REGION and e.get("AWS_DEFAULT_REGION") == REGION,
              f"region not passed: {e.get('AWS_REGION')!r}")
        check(e.get("AWS_ACCESS_KEY_ID") == KEY_ID and e.get("AWS_SECRET_ACCESS_KEY") == SECRET,
              "the executor's credentials were not passed explicitly")
        leaked = sorted(k for k in e if k in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
                                                "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                                "AWS_WEB_IDENTITY_TOKEN_FILE"))
        check(not leaked, f"the subprocess could find credentials on its own: {leaked}")
    lost = failing_object_and_lost_ledger_responses(s3, ddb, names, work, cli, real_binary, url,
                                                    tag)
    print(json.dumps({"glue_as_glue": "ok", "objects": len(objects), "rows": rows,
                      "partitions": len(parts), "subprocesses": len(envs),
                      "lost_ledger_responses": lost}))


def failing_object_and_lost_ledger_responses(s3, ddb, names, work, cli, real_binary, url, tag):
    """A run with an object whose version is gone, whose ledger answers are lost after DynamoDB
    applied them (the fault proxy answers 500, botocore retries): the run fails, the good
    object is SUCCEEDED, the gone one FAILED with its error (read from DynamoDB directly)."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "faults"))
    from harness import Proxy
    rep = generate(cli, os.path.join(work, "raw2"))
    good = base.put(s3, names["raw"], "logs/good.ndjson.gz", rep["files"][0])
    gone = base.put(s3, names["raw"], "logs/gone.ndjson.gz", rep["files"][1])
    s3.delete_object(Bucket=names["raw"], Key=gone["key"], VersionId=gone["version_id"])
    run_id = "jr_" + tag + "_lost"
    for o in (good, gone):
        base.claim_started(ddb, names["ledger"], o, run_id)
    manifest = base.write_manifest(s3, names, run_id, [good, gone])
    proxy = Proxy(url)
    try:
        proxy.rules([{"name": "ledger response lost", "service": "dynamodb",
                      "operation": "UpdateItem", "action": "status_after", "status": 500,
                      "code": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                      "times": 2}])
        dump = os.path.join(work, "env-lost")
        os.makedirs(dump)
        p = subprocess.run(glue_argv(names, run_id, manifest), cwd=job_dir(real_binary, dump),
                           env=glue_env(proxy.url, os.path.join(work, "creds-lost")),
                           capture_output=True, text=True, timeout=900)
        lost = len(proxy.log())
    finally:
        proxy.stop()
    check(lost == 2, f"the proxy lost {lost} ledger responses, want 2")
    check(p.returncode != 0 and "1 of 2 object(s) failed" in p.stderr,
          f"the run must fail for the gone object: exit {p.returncode}; {p.stderr[-1500:]}")
    check(base.status(ddb, names["ledger"], good) == ("SUCCEEDED", None),
          f"good object: {base.status(ddb, names['ledger'], good)}")
    st, err = base.status(ddb, names["ledger"], gone)
    check(st == "FAILED" and err and "not found" in err, f"gone object: {st} {err}")
    return lost


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pymain
    pymain.run(main, Failed)
