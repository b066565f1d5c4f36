"""loglake's Glue job (Glue 5.0, `glueetl`: Spark 3.5, Python 3.11): the Rust task over S3.

The trigger starts a run with either one object (--LOGLAKE_BUCKET, --LOGLAKE_KEY, --LOGLAKE_VERSION
[, --LOGLAKE_VERSION_ID]) or a manifest of many (--LOGLAKE_MANIFEST s3://bucket/key). The job's
defaults (infra/glue_job.tf) add --LOGLAKE_OUTPUT (s3://clean-bucket), --LOGLAKE_SCHEMA
(s3://…/schemas/<table>.json), --LOGLAKE_DATABASE, --LOGLAKE_TABLE and --LOGLAKE_LEDGER_TABLE;
Glue adds --JOB_RUN_ID.

This script only resolves the arguments and spreads the work; every rule is in the `loglake`
binary (shipped to the driver with --extra-files, to the executors with SparkContext.addFile):
- the driver runs `loglake glue-task plan`, which reads the manifest (or takes the one object)
  and prints the run's objects, one JSON line each, largest first; the lines are passed on
  unread;
- each Spark task runs `loglake glue-task object --object LINE …` for one line: it checks the
  version is still the key's current one (a superseded version is not published and is recorded
  SUCCEEDED with `superseded_by`), transforms and publishes, publishes the key's current version
  again if a newer one arrived meanwhile, records the result in the DynamoDB ledger (only while
  this run holds the item), and prints one JSON result line;
- the driver logs every result and fails the run if any object failed.

The compaction schedule (infra/compaction.tf) starts the same job with --LOGLAKE_MODE compact
and the --LOGLAKE_COMPACT_* options: the driver runs `loglake glue-task compact-plan` (the
catalog's settled partitions with enough files) and each Spark task `loglake glue-task compact
--partition LINE …` (claimed in the ledger, compacted, switched with one UpdatePartition).

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

import boto3

REQUIRED = ["LOGLAKE_OUTPUT", "LOGLAKE_SCHEMA"]
OPTIONAL = [
    "JOB_NAME", "LOGLAKE_DATABASE", "LOGLAKE_TABLE", "LOGLAKE_LEDGER_TABLE", "LOGLAKE_REGION",
    "LOGLAKE_BUCKET", "LOGLAKE_KEY", "LOGLAKE_VERSION", "LOGLAKE_VERSION_ID", "LOGLAKE_MANIFEST",
    "LOGLAKE_BINARY", "LOGLAKE_MODE", *[
        "LOGLAKE_COMPACT_SETTLE_MINUTES", "LOGLAKE_COMPACT_MIN_FILES",
        "LOGLAKE_COMPACT_TARGET_FILE_MIB", "LOGLAKE_COMPACT_GRACE_MINUTES"],
]
# --LOGLAKE_COMPACT_* → the `loglake glue-task compact-plan` / `compact` options they set.
PLAN_OPTIONS = {"LOGLAKE_COMPACT_SETTLE_MINUTES": "--settle-minutes",
                "LOGLAKE_COMPACT_MIN_FILES": "--min-files",
                "LOGLAKE_COMPACT_GRACE_MINUTES": "--grace-minutes"}
TASK_OPTIONS = {"LOGLAKE_COMPACT_TARGET_FILE_MIB": "--target-file-mib",
                "LOGLAKE_COMPACT_GRACE_MINUTES": "--grace-minutes"}
# A transform taking longer than this is stuck (Glue's own timeout is the job's).
OBJECT_TIMEOUT_SECONDS = int(os.environ.get("LOGLAKE_OBJECT_TIMEOUT", "3000"))
# What a `loglake` subprocess inherits from the executor's environment. Everything else it needs
# (region, credentials) is passed explicitly (subprocess_env): the executors' environment is not
# documented, so the binary must not depend on it. AWS_ENDPOINT_URL* are for emulators.
INHERITED_ENV = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "RUST_LOG", "RUST_BACKTRACE",
                 "SSL_CERT_FILE", "SSL_CERT_DIR", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                 "AWS_ENDPOINT_URL_GLUE", "AWS_ENDPOINT_URL_DYNAMODB")


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


def plan_args(args):
    """`loglake glue-task plan`'s arguments: the manifest, or the one object of the run."""
    if "LOGLAKE_MANIFEST" in args:
        return ["--manifest", args["LOGLAKE_MANIFEST"]]
    for n in ("LOGLAKE_BUCKET", "LOGLAKE_KEY", "LOGLAKE_VERSION"):
        if n not in args:
            raise SystemExit(f"loglake: neither --LOGLAKE_MANIFEST nor --{n} was given")
    out = ["--bucket", args["LOGLAKE_BUCKET"], "--key", args["LOGLAKE_KEY"],
           "--version", args["LOGLAKE_VERSION"]]
    if args.get("LOGLAKE_VERSION_ID"):
        out += ["--version-id", args["LOGLAKE_VERSION_ID"]]
    return out


def task_args(args):
    """`loglake glue-task object`'s arguments, the same for every object of the run."""
    out = ["--output", args["LOGLAKE_OUTPUT"], "--schema", args["LOGLAKE_SCHEMA"]]
    if args.get("LOGLAKE_DATABASE") and args.get("LOGLAKE_TABLE"):
        out += ["--catalog", f"{args['LOGLAKE_DATABASE']}.{args['LOGLAKE_TABLE']}"]
    if args.get("JOB_RUN_ID") and args.get("LOGLAKE_LEDGER_TABLE"):
        out += ["--ledger-table", args["LOGLAKE_LEDGER_TABLE"], "--run-id", args["JOB_RUN_ID"]]
    return out


def work(args):
    """The run's plan command, and the task command each plan line is given to (after the flag):
    objects for the trigger's runs, partitions for the compaction schedule's."""
    mode = args.get("LOGLAKE_MODE", "objects")
    if mode == "objects":
        return (["glue-task", "plan", *plan_args(args)],
                {"task": ["glue-task", "object"], "flag": "--object", "task_args": task_args(args)})
    if mode != "compact":
        raise SystemExit(f"loglake: --LOGLAKE_MODE {mode!r}: expected objects or compact")
    if not (args.get("LOGLAKE_DATABASE") and args.get("LOGLAKE_TABLE")):
        raise SystemExit("loglake: compaction needs --LOGLAKE_DATABASE and --LOGLAKE_TABLE")
    catalog = ["--catalog", f"{args['LOGLAKE_DATABASE']}.{args['LOGLAKE_TABLE']}"]

    def options(names):
        return [x for n, flag in names.items() if n in args for x in (flag, args[n])]

    task = ["--schema", args["LOGLAKE_SCHEMA"], *catalog, *options(TASK_OPTIONS)]
    if args.get("JOB_RUN_ID") and args.get("LOGLAKE_LEDGER_TABLE"):
        task += ["--ledger-table", args["LOGLAKE_LEDGER_TABLE"], "--run-id", args["JOB_RUN_ID"]]
    if args.get("JOB_NAME"):
        task += ["--job-name", args["JOB_NAME"]]  # a dead run's claim is taken over
    return (["glue-task", "compact-plan", *catalog, *options(PLAN_OPTIONS)],
            {"task": ["glue-task", "compact"], "flag": "--partition", "task_args": task})


def plan(binary, plan_cmd, region):
    """The run's work as `loglake glue-task plan` (or `compact-plan`) prints it: opaque lines."""
    p = subprocess.run([binary, *plan_cmd], capture_output=True,
                       text=True, timeout=OBJECT_TIMEOUT_SECONDS, env=subprocess_env(region))
    if p.returncode != 0:
        raise SystemExit(f"loglake: the run's plan failed (exit {p.returncode}): "
                         f"{p.stderr.strip()[-2000:]}")
    return [line for line in p.stdout.splitlines() if line.strip()]


def run_one(line, conf):
    """One object, on an executor: `loglake glue-task object`, whose stdout is exactly one JSON
    document, the typed result. A task that dies, hangs or prints anything else gives a failed
    result carrying the line, its stderr and what it printed."""
    cmd = [executor_binary(conf), *conf.get("task", ["glue-task", "object"]),
           conf.get("flag", "--object"), line, *conf["task_args"]]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=OBJECT_TIMEOUT_SECONDS,
                           env=subprocess_env(conf["region"]))
        code, stdout, stderr = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        code, stdout, stderr = -1, "", f"timed out after {OBJECT_TIMEOUT_SECONDS} s"
    if code in (0, 1):
        try:
            return json.loads(stdout)
        except ValueError:
            stderr = f"{stderr}\nstdout is not one JSON result: {stdout[-500:]!r}"
    return {"object": line, "ok": False, "outcome": "failed", "exit_code": code,
            "error": (stderr or "").strip()[-2000:] or f"exit code {code}"}


def main(argv):
    args = resolve_args(argv)
    region = job_region(args)
    binary = find_binary(args)
    plan_cmd, task = work(args)
    objects = plan(binary, plan_cmd, region)

    from pyspark.sql import SparkSession
    spark = SparkSession.builder.appName(args.get("JOB_NAME", "loglake")).getOrCreate()
    sc = spark.sparkContext
    sc.addFile(binary)  # to every executor (SparkFiles)
    conf = {"binary": binary, "region": region, **task}
    print(f"loglake: {len(objects)} line(s) of work, task {conf['task']} {conf['task_args']}",
          file=sys.stderr)
    # One Spark task per object, in the plan's order (largest first).
    results = (sc.parallelize(objects, max(1, len(objects)))
               .map(lambda line: run_one(line, conf))
               .collect())

    for r in results:
        # One line per object: CloudWatch shows each object's outcome, summary and ledger.
        print(json.dumps(r))
    failed = [r for r in results if not r["ok"]]
    if failed:
        raise RuntimeError(f"loglake: {len(failed)} of {len(results)} object(s) failed: "
                           + "; ".join(f"{r.get('source') or r.get('partition') or r.get('object')}: "
                                       f"{r.get('error') or r.get('ledger_error')}"
                                       for r in failed[:5]))
    return results


if __name__ == "__main__":
    main(sys.argv)
