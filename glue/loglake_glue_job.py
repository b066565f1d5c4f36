"""loglake's Glue job (Glue 5.0, `glueetl`: Spark 3.5, Python 3.11): the Rust transform over S3.

The trigger starts a run with either one object (--LOGLAKE_BUCKET, --LOGLAKE_KEY, --LOGLAKE_VERSION
[, --LOGLAKE_VERSION_ID]) or a manifest of many (--LOGLAKE_MANIFEST s3://bucket/key: JSON lines of
{"bucket","key","version","version_id","size","sequencer"}). The job's defaults (infra/glue_job.tf)
add --LOGLAKE_OUTPUT (s3://clean-bucket), --LOGLAKE_SCHEMA (s3://…/schemas/<table>.json),
--LOGLAKE_DATABASE, --LOGLAKE_TABLE and --LOGLAKE_LEDGER_TABLE; Glue adds --JOB_RUN_ID.

The driver spreads the objects over the executors, one Spark task per object (largest first). Each
task first asks S3 whether its version is still the key's current one: a superseded version is
not published (the newer version's rows replace it; it is recorded SUCCEEDED with
`superseded_by`), and after publishing, a task whose key got a newer version meanwhile publishes
that one again, so concurrent runs of two versions end with the newer one's files. It runs the
`loglake` binary (shipped to the driver with --extra-files, to the executors with
SparkContext.addFile): `loglake transform --input s3://… --version-id … --output …
--catalog db.table`, which checks the catalog table against the schema,
writes Parquet and quarantine, and registers the partitions. The driver logs every summary, records
each object's result in the DynamoDB ledger (STARTED -> SUCCEEDED/FAILED, only while this run holds
it), and fails the run after processing all objects if any failed.

Arguments are resolved with AWS's own `awsglue.utils.getResolvedOptions`, here and in the tests
(AWSGlueDataplanePython 5.0.0); tests/glue/ runs the script as Glue does, with local PySpark
against moto. Each `loglake` subprocess gets the region (--LOGLAKE_REGION) and the executor's
credentials explicitly (subprocess_env), nothing it would have to find on its own.
"""

import json
import os
import stat
import subprocess
import sys
import tempfile
import time

import boto3

REQUIRED = ["LOGLAKE_OUTPUT", "LOGLAKE_SCHEMA"]
OPTIONAL = [
    "JOB_NAME", "LOGLAKE_DATABASE", "LOGLAKE_TABLE", "LOGLAKE_LEDGER_TABLE", "LOGLAKE_REGION",
    "LOGLAKE_BUCKET", "LOGLAKE_KEY", "LOGLAKE_VERSION", "LOGLAKE_VERSION_ID", "LOGLAKE_MANIFEST",
    "LOGLAKE_BINARY",
]
# A transform taking longer than this is stuck (Glue's own timeout is the job's).
OBJECT_TIMEOUT_SECONDS = int(os.environ.get("LOGLAKE_OBJECT_TIMEOUT", "3000"))
# What a `loglake` subprocess inherits from the executor's environment. Everything else it needs
# (region, credentials) is passed explicitly (subprocess_env): the executors' environment is not
# documented, so the binary must not depend on it. AWS_ENDPOINT_URL* are for emulators.
INHERITED_ENV = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "RUST_LOG", "RUST_BACKTRACE",
                 "SSL_CERT_FILE", "SSL_CERT_DIR", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                 "AWS_ENDPOINT_URL_GLUE")


def resolve_args(argv):
    """The job's arguments, resolved by AWS's own `getResolvedOptions` (awsglue, as on Glue).

    It registers Glue's reserved arguments itself (`awsglue.job.Job.id_params`: --JOB_ID,
    --JOB_RUN_ID, --SECURITY_CONFIGURATION; bookmarks; --TempDir): asking for one of them again
    is an argparse conflict that kills the run, so we ask only for ours and read JOB_RUN_ID from
    its result. It makes every option it is asked for required, so we ask only for those present.
    There is no fallback: without awsglue this script does not run (tests install
    AWSGlueDataplanePython, AWS's library for Glue 5.0)."""
    from awsglue.job import Job  # type: ignore
    from awsglue.utils import getResolvedOptions  # type: ignore
    reserved = {o[2:] for o in Job.id_params()[1:]}
    ours = [n for n in REQUIRED + OPTIONAL if n not in reserved]
    present = [n for n in ours if f"--{n}" in argv]
    missing = [n for n in REQUIRED if n not in present]
    if missing:
        raise SystemExit(f"loglake: missing job arguments: {', '.join('--' + n for n in missing)}")
    resolved = getResolvedOptions(argv, present)
    args = {n: resolved[n] for n in present}
    if resolved.get("JOB_RUN_ID"):
        args["JOB_RUN_ID"] = resolved["JOB_RUN_ID"]
    return args


def job_region(args):
    """The region every client and subprocess uses: --LOGLAKE_REGION (infra/glue_job.tf sets
    it), else the driver's boto3 default."""
    region = args.get("LOGLAKE_REGION") or boto3.session.Session().region_name
    if not region:
        raise SystemExit("loglake: no AWS region: pass --LOGLAKE_REGION (infra/glue_job.tf does)")
    return region


def subprocess_env(region):
    """The environment of one `loglake` subprocess: a few inherited variables, the region, and
    the credentials boto3 resolves on this executor now (refreshed when they near expiry), so
    the binary's own credential chain finds exactly these and looks nowhere else."""
    creds = boto3.session.Session(region_name=region).get_credentials()
    if creds is None:
        raise RuntimeError("loglake: boto3 found no AWS credentials on this executor")
    frozen = creds.get_frozen_credentials()
    env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
    env.update(AWS_REGION=region, AWS_DEFAULT_REGION=region, AWS_EC2_METADATA_DISABLED="true",
               AWS_ACCESS_KEY_ID=frozen.access_key, AWS_SECRET_ACCESS_KEY=frozen.secret_key)
    if frozen.token:
        env["AWS_SESSION_TOKEN"] = frozen.token
    return env


def split_s3(uri):
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise SystemExit(f"loglake: `{uri}` is not s3://bucket/key")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def objects_of(args, s3):
    """The run's objects: the manifest's lines, or the one object of the arguments."""
    if "LOGLAKE_MANIFEST" in args:
        bucket, key = split_s3(args["LOGLAKE_MANIFEST"])
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        out = []
        for n, line in enumerate(body.splitlines(), 1):
            if not line.strip():
                continue
            try:
                o = json.loads(line)
                out.append({"bucket": o["bucket"], "key": o["key"], "version": o["version"],
                            "version_id": o.get("version_id"), "size": o.get("size", 0)})
            except (ValueError, KeyError) as e:
                raise SystemExit(f"loglake: manifest {args['LOGLAKE_MANIFEST']} line {n}: {e!r}")
        return out
    for n in ("LOGLAKE_BUCKET", "LOGLAKE_KEY", "LOGLAKE_VERSION"):
        if n not in args:
            raise SystemExit(f"loglake: neither --LOGLAKE_MANIFEST nor --{n} was given")
    return [{"bucket": args["LOGLAKE_BUCKET"], "key": args["LOGLAKE_KEY"],
             "version": args["LOGLAKE_VERSION"], "version_id": args.get("LOGLAKE_VERSION_ID"),
             "size": 0}]


def find_binary(args):
    """The `loglake` binary on the driver: --LOGLAKE_BINARY, else the copy --extra-files put in
    the script's working directory (Glue)."""
    candidates = [args.get("LOGLAKE_BINARY"), os.path.join(os.getcwd(), "loglake")]
    for c in candidates:
        if c and os.path.isfile(c):
            if not os.access(c, os.X_OK):
                os.chmod(c, os.stat(c).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            return c
    raise SystemExit(f"loglake: the loglake binary is not in {candidates}; "
                     "ship it with --extra-files (infra/glue_job.tf)")


def executor_binary(conf):
    """The binary on this executor: the SparkFiles copy the driver shipped (--extra-files only
    reaches the driver), else the driver's path (local mode)."""
    path = conf["binary"]
    try:
        from pyspark import SparkFiles
        shipped = SparkFiles.get(os.path.basename(path))
        if os.path.isfile(shipped):
            path = shipped
    except Exception:  # noqa: BLE001 - not in a Spark task
        pass
    if not os.access(path, os.X_OK):
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def current_version(s3, bucket, key):
    """The key's current version, named as the ledger names versions (the version id, else the
    ETag), or None when the key has no current object (deleted)."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    vid = head.get("VersionId")
    if vid and vid != "null":
        return {"version": vid, "version_id": vid}
    return {"version": head["ETag"].strip('"'), "version_id": None}


def transform(obj, conf):
    """`loglake transform` of one object version: (exit code, summary or None, stderr)."""
    source = f"s3://{obj['bucket']}/{obj['key']}"
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(conf["schema"])
        schema_path = f.name
    cmd = [executor_binary(conf), "transform", "--quiet", "--input", source, "--output", conf["output"],
           "--schema", schema_path]
    if obj.get("version_id"):
        cmd += ["--version-id", obj["version_id"]]
    if conf.get("catalog"):
        cmd += ["--catalog", conf["catalog"]]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=OBJECT_TIMEOUT_SECONDS,
                           env=subprocess_env(conf["region"]))
        code, stdout, stderr = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        code, stdout, stderr = -1, e.stdout or "", f"timed out after {OBJECT_TIMEOUT_SECONDS} s"
    finally:
        os.unlink(schema_path)
    summary = None
    for line in reversed((stdout or "").splitlines()):
        if line.startswith("{"):
            summary = json.loads(line)
            break
    return code, summary, stderr


def transformed(code, summary):
    # Exit 1 with a summary is "data problems reported" (quarantined records): processed.
    return code in (0, 1) and summary is not None and "error" not in summary


def publish_newest(s3, obj, conf, published):
    """Versions of one key share their output files (same source id), and on AWS two of them
    can be in flight at once, in any order. After publishing version `published`, if the key's
    current version is another (newer) one, its run may already have published, and this
    publish may have replaced its files: publish the current version again, until the files are
    the current version's. Returns the version republished last, or None."""
    repaired = None
    for _ in range(3):
        now = current_version(s3, obj["bucket"], obj["key"])
        if now is None or now["version"] == published:
            return repaired
        code, summary, stderr = transform({**obj, **now}, conf)
        if not transformed(code, summary):
            # The newer version does not transform: its own run fails and says why.
            print(f"loglake: republishing {obj['key']} version {now['version']} failed: "
                  f"{(stderr or '').strip()[-500:]}", file=sys.stderr)
            return repaired
        published = repaired = now["version"]
    return repaired


def run_one(obj, conf):
    """One object, on an executor: `loglake transform`, its summary and outcome. A version that
    is no longer the key's current one is superseded: not published (the newer version's rows
    replace it), and reported as processed."""
    source = f"s3://{obj['bucket']}/{obj['key']}"
    started = time.monotonic()
    s3 = boto3.client("s3", region_name=conf["region"])
    newest = current_version(s3, obj["bucket"], obj["key"])
    if newest is not None and newest["version"] != obj["version"]:
        return {"object": obj, "source": source, "ok": True, "summary": None, "error": None,
                "superseded_by": newest["version"], "exit_code": None,
                "seconds": round(time.monotonic() - started, 3)}
    code, summary, stderr = transform(obj, conf)
    ok = transformed(code, summary)
    error = None if ok else ((summary or {}).get("error") or (stderr or "").strip()[-2000:]
                             or f"exit code {code}")
    result = {"object": obj, "source": source, "ok": ok, "summary": summary, "error": error,
              "exit_code": code}
    if ok:
        repaired = publish_newest(s3, obj, conf, obj["version"])
        if repaired:
            result["republished"] = repaired
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def record(ddb, table, run_id, result):
    """STARTED -> SUCCEEDED/FAILED for this run's item (the same result again is fine)."""
    obj = result["object"]
    item_id = f"s3://{obj['bucket']}/{obj['key']}#{obj['version']}"
    status = "SUCCEEDED" if result["ok"] else "FAILED"
    names = {"#status": "status", "#run": "job_run_id", "#error": "error"}
    values = {":status": {"S": status}, ":started": {"S": "STARTED"}, ":run": {"S": run_id}}
    if result.get("superseded_by"):
        update = "SET #status = :status, #superseded = :newer REMOVE #error"
        names["#superseded"] = "superseded_by"
        values[":newer"] = {"S": result["superseded_by"]}
    elif result["ok"]:
        update = "SET #status = :status REMOVE #error"
    else:
        update = "SET #status = :status, #error = :error"
        values[":error"] = {"S": str(result["error"])[:4000]}
    try:
        ddb.update_item(TableName=table, Key={"id": {"S": item_id}}, UpdateExpression=update,
                        ConditionExpression="(#status = :started OR #status = :status) AND #run = :run",
                        ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        return True
    except ddb.exceptions.ConditionalCheckFailedException:
        print(f"loglake: ledger item {item_id} is not this run's ({run_id}); left as it is",
              file=sys.stderr)
        return False


def main(argv):
    args = resolve_args(argv)
    region = job_region(args)
    s3 = boto3.client("s3", region_name=region)
    objects = objects_of(args, s3)
    bucket, key = split_s3(args["LOGLAKE_SCHEMA"])
    schema = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    catalog = None
    if args.get("LOGLAKE_DATABASE") and args.get("LOGLAKE_TABLE"):
        catalog = f"{args['LOGLAKE_DATABASE']}.{args['LOGLAKE_TABLE']}"

    from pyspark.sql import SparkSession
    spark = SparkSession.builder.appName(args.get("JOB_NAME", "loglake")).getOrCreate()
    sc = spark.sparkContext
    binary = find_binary(args)
    sc.addFile(binary)  # to every executor (SparkFiles)
    conf = {"binary": binary, "schema": schema, "output": args["LOGLAKE_OUTPUT"], "region": region,
            "catalog": catalog}
    print(f"loglake: {len(objects)} object(s), output {conf['output']}, catalog {catalog}",
          file=sys.stderr)
    # One task per object, largest first, so the long ones start early.
    ordered = sorted(objects, key=lambda o: -int(o.get("size") or 0))
    results = (sc.parallelize(ordered, max(1, len(ordered)))
               .map(lambda o: run_one(o, conf))
               .collect())

    for r in results:
        # One line per object: CloudWatch shows records in/written/quarantined per object.
        line = {"loglake_object": r["source"], "ok": r["ok"], "seconds": r["seconds"],
                "summary": r["summary"], "error": r["error"]}
        for k in ("superseded_by", "republished"):
            if r.get(k):
                line[k] = r[k]
        print(json.dumps(line))
    run_id = args.get("JOB_RUN_ID")
    if run_id and args.get("LOGLAKE_LEDGER_TABLE"):
        ddb = boto3.client("dynamodb", region_name=region)
        for r in results:
            record(ddb, args["LOGLAKE_LEDGER_TABLE"], run_id, r)
    failed = [r for r in results if not r["ok"]]
    if failed:
        raise RuntimeError(f"loglake: {len(failed)} of {len(results)} object(s) failed: "
                           + "; ".join(f"{r['source']}: {r['error']}" for r in failed[:5]))
    return results


if __name__ == "__main__":
    main(sys.argv)
