"""The Glue entry script (glue/loglake_glue_job.py) on a real local PySpark, against a moto server:
a manifest of published log samples (gzip, malformed lines, a key with spaces) becomes Parquet in
moto S3, partitions in moto's Glue catalog and SUCCEEDED ledger items; a run with an object that
fails records FAILED for it, SUCCEEDED for the others, and fails.

Run by scripts/test.sh: python tests/glue/test_glue_job.py (needs LOGLAKE_MOTO_URL,
LOGLAKE_GLUE_BIN = the Glue artifact, `loglake` built without its `local` feature, LOGLAKE_FIXTURES, pyspark and pyarrow from requirements-test.txt).
"""

import io
import json
import os
import subprocess
import sys
import time
import uuid

import boto3
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "glue"))

import loglake_glue_job as job  # noqa: E402


class Failed(Exception):
    pass


def check(ok, detail):
    """An explicit check (a bare assert would vanish under python -O)."""
    if not ok:
        raise Failed(repr(detail)[:2000])


def env():
    url = os.environ["LOGLAKE_MOTO_URL"]
    os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="testing",
                      AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1",
                      AWS_DEFAULT_REGION="us-east-1")
    return url


def setup(tag, region="us-east-1"):
    s3, ddb, glue = (boto3.client(n, region_name=region) for n in ("s3", "dynamodb", "glue"))
    names = {k: f"glue-{k}-{tag}" for k in ("raw", "clean", "code", "ledger")}
    names["db"] = f"glue_db_{tag}"
    where = {} if region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": region}}
    for b in ("raw", "clean", "code"):
        s3.create_bucket(Bucket=names[b], **where)
    s3.put_bucket_versioning(Bucket=names["raw"], VersioningConfiguration={"Status": "Enabled"})
    ddb.create_table(TableName=names["ledger"], BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    # The catalog table as infra/catalog.tf makes it from the same schema file.
    with open(os.path.join(ROOT, "schemas/app_logs.json")) as f:
        schema_text = f.read()
    schema = json.loads(schema_text)
    s3.put_object(Bucket=names["code"], Key="schemas/app_logs.json", Body=schema_text.encode())
    keys = [k["name"] for k in schema["partition_keys"]]
    sources = {k.get("source") for k in schema["partition_keys"]} - {None}
    columns = [{"Name": c["name"], "Type": c["type"]} for c in schema["columns"]
               if c["name"] not in sources]
    columns.append({"Name": schema.get("attributes_column", "attributes"), "Type": "string"})
    location = f"s3://{names['clean']}/clean/app_logs"
    glue.create_database(DatabaseInput={"Name": names["db"]})
    glue.create_table(DatabaseName=names["db"], TableInput={
        "Name": "app_logs", "TableType": "EXTERNAL_TABLE",
        "PartitionKeys": [{"Name": k, "Type": "string"} for k in keys],
        "StorageDescriptor": {
            "Columns": columns, "Location": location,
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary":
                          "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}}})
    return s3, ddb, glue, names, location


def put(s3, bucket, key, path):
    with open(path, "rb") as f:
        body = f.read()
    v = s3.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
    return {"bucket": bucket, "key": key, "version": v, "version_id": v, "size": len(body)}


def claim_started(ddb, table, obj, run_id):
    """The ledger item as the trigger leaves it: STARTED by this run."""
    ddb.put_item(TableName=table, Item={
        "id": {"S": f"s3://{obj['bucket']}/{obj['key']}#{obj['version']}"},
        "status": {"S": "STARTED"}, "job_run_id": {"S": run_id}, "owner": {"S": "trigger"},
        "attempts": {"N": "1"}, "lease_until": {"N": "0"}, "expires_at": {"N": "0"}})


def status(ddb, table, obj):
    item = ddb.get_item(TableName=table, ConsistentRead=True, Key={
        "id": {"S": f"s3://{obj['bucket']}/{obj['key']}#{obj['version']}"}})["Item"]
    return item["status"]["S"], item.get("error", {}).get("S")


def rows_of(s3, names, key):
    """Parquet rows in the clean bucket from the object `key` (its source id's files)."""
    import hashlib
    sid = hashlib.sha256(f"{names['raw']}/{key}".encode()).hexdigest()[:16]
    rows = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=names["clean"],
                                                             Prefix="clean/app_logs/"):
        for o in page.get("Contents", []):
            if f"/part-{sid}-" in o["Key"]:
                body = s3.get_object(Bucket=names["clean"], Key=o["Key"])["Body"].read()
                rows += pq.read_table(io.BytesIO(body)).num_rows
    return rows


def catalog_rows(s3, glue, names):
    """Rows a reader of the catalog sees: the Parquet files directly in each partition's
    location (hidden `_`/`.` names skipped, as Athena does), read with pyarrow."""
    total = 0
    for p in glue.get_partitions(DatabaseName=names["db"], TableName="app_logs")["Partitions"]:
        bucket, prefix = p["StorageDescriptor"]["Location"][len("s3://"):].split("/", 1)
        prefix = prefix.rstrip("/") + "/"
        for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter="/").get("Contents", []):
            name = o["Key"][len(prefix):]
            if name.endswith(".parquet") and not name.startswith(("_", ".")):
                body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
                total += pq.read_table(io.BytesIO(body)).num_rows
    return total


def write_manifest(s3, names, run_id, objects):
    key = f"tmp/manifests/{run_id}.jsonl"
    s3.put_object(Bucket=names["code"], Key=key,
                  Body="".join(json.dumps(o) + "\n" for o in objects).encode())
    return f"s3://{names['code']}/{key}"


def run_job(names, run_id, manifest):
    return job.main(["loglake_glue_job.py",
                     "--JOB_NAME", "loglake-transform", "--JOB_RUN_ID", run_id,
                     "--LOGLAKE_MANIFEST", manifest,
                     "--LOGLAKE_OUTPUT", f"s3://{names['clean']}",
                     "--LOGLAKE_SCHEMA", f"s3://{names['code']}/schemas/app_logs.json",
                     "--LOGLAKE_DATABASE", names["db"], "--LOGLAKE_TABLE", "app_logs",
                     "--LOGLAKE_LEDGER_TABLE", names["ledger"],
                     "--LOGLAKE_BINARY", os.environ["LOGLAKE_GLUE_BIN"]])


def main():
    env()
    fixtures = os.environ.get("LOGLAKE_FIXTURES", os.path.join(ROOT, "..", "shared", "fixtures"))
    logs = os.path.join(fixtures, "logs")
    tag = uuid.uuid4().hex[:8]
    s3, ddb, glue, names, location = setup(tag)

    from pyspark.sql import SparkSession
    t0 = time.monotonic()
    spark = SparkSession.builder.master("local[2]").appName("loglake-test") \
        .config("spark.ui.enabled", "false").getOrCreate()
    # Imported here as a module (Glue runs it as __main__): the workers need it on their path.
    spark.sparkContext.addPyFile(os.path.join(ROOT, "glue", "loglake_glue_job.py"))
    spark_start = time.monotonic() - t0

    objects = [
        put(s3, names["raw"], "logs/bunyan/all.log", os.path.join(logs, "bunyan/all.log")),
        put(s3, names["raw"], "logs/bunyan/log1.log.gz", os.path.join(logs, "bunyan/log1.log.gz")),
        put(s3, names["raw"], "logs/lnav/invalid json with spaces.json",
            os.path.join(logs, "lnav/logfile_invalid_json.json")),
    ]
    run1 = "jr_" + tag + "_1"
    for o in objects:
        claim_started(ddb, names["ledger"], o, run1)
    t0 = time.monotonic()
    results = run_job(names, run1, write_manifest(s3, names, run1, objects))
    run_seconds = time.monotonic() - t0

    check(all(r["ok"] for r in results), results)
    by_source = {r["source"]: r["summary"] for r in results}
    gz = by_source[f"s3://{names['raw']}/logs/bunyan/log1.log.gz"]
    bad = by_source[f"s3://{names['raw']}/logs/lnav/invalid json with spaces.json"]
    check(gz["records_written"] > 0, gz)
    check(bad["records_quarantined"] > 0, bad)
    for s in by_source.values():
        check(s["records_in"] == s["records_written"] + s["records_quarantined"], s)

    # Parquet in moto S3 with the summaries' rows.
    rows = 0
    for s in by_source.values():
        for uri in s["files"]:
            bucket, key = uri[len("s3://"):].split("/", 1)
            check(key.startswith("clean/app_logs/dt="), uri)
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            rows += pq.read_table(io.BytesIO(body)).num_rows
    check(rows == sum(s["records_written"] for s in by_source.values()), rows)

    # Partitions registered, at the table's location.
    expected = sorted({p for s in by_source.values() for p in s["partitions"]})
    got = glue.get_partitions(DatabaseName=names["db"], TableName="app_logs")["Partitions"]
    got_paths = sorted(p["StorageDescriptor"]["Location"][len(location) + 1:] for p in got)
    check(got_paths == expected, (got_paths, expected))
    check(all(p["Values"] == [kv.split("=", 1)[1] for kv in path.split("/")]
               for p, path in zip(sorted(got, key=lambda p: p["StorageDescriptor"]["Location"]),
                                  got_paths)), "partition values are the path's values")

    # Ledger: SUCCEEDED for each.
    for o in objects:
        check(status(ddb, names["ledger"], o) == ("SUCCEEDED", None), o)

    # A run where one object fails (its version is gone): the others are processed and
    # recorded, the failed one is FAILED with its error, and the run fails.
    gone = put(s3, names["raw"], "logs/gone.json", os.path.join(logs, "bunyan/withreq.log"))
    s3.delete_object(Bucket=names["raw"], Key=gone["key"], VersionId=gone["version_id"])
    good = put(s3, names["raw"], "logs/bunyan/extrafield.log",
               os.path.join(logs, "bunyan/extrafield.log"))
    run2 = "jr_" + tag + "_2"
    for o in (gone, good):
        claim_started(ddb, names["ledger"], o, run2)
    try:
        run_job(names, run2, write_manifest(s3, names, run2, [gone, good]))
        raise Failed("the run should fail")
    except RuntimeError as e:
        check("1 of 2 object(s) failed" in str(e) and gone["key"] in str(e), e)
    check(status(ddb, names["ledger"], good) == ("SUCCEEDED", None), "the good object SUCCEEDED")
    st, err = status(ddb, names["ledger"], gone)
    check(st == "FAILED" and "not found" in err, (st, err))

    # A run whose item another run took over leaves the item alone.
    claim_started(ddb, names["ledger"], good, "jr_other")
    run_job(names, run2, write_manifest(s3, names, run2 + "b", [good]))
    item = ddb.get_item(TableName=names["ledger"], Key={
        "id": {"S": f"s3://{good['bucket']}/{good['key']}#{good['version']}"}})["Item"]
    check(item["status"]["S"] == "STARTED" and item["job_run_id"]["S"] == "jr_other", item)

    # Two versions of one key in flight at once (on AWS nothing orders their runs): the newer
    # version's run ends first, then the older one's must not put its rows back.
    v1 = put(s3, names["raw"], "logs/race.log", os.path.join(logs, "bunyan/all.log"))
    v2 = put(s3, names["raw"], "logs/race.log", os.path.join(logs, "lnav/logfile_invalid_json.json"))
    for o, run in ((v1, "jr_" + tag + "_v1"), (v2, "jr_" + tag + "_v2")):
        claim_started(ddb, names["ledger"], o, run)
    (newer,) = run_job(names, "jr_" + tag + "_v2", write_manifest(s3, names, "v2", [v2]))
    (older,) = run_job(names, "jr_" + tag + "_v1", write_manifest(s3, names, "v1", [v1]))
    check(older["ok"] and older["outcome"] == "superseded" and older["superseded_by"] == v2["version"]
          and "summary" not in older and older["ledger"] == "recorded", older)
    item = ddb.get_item(TableName=names["ledger"], Key={
        "id": {"S": f"s3://{v1['bucket']}/{v1['key']}#{v1['version']}"}})["Item"]
    check(item["status"]["S"] == "SUCCEEDED" and item["superseded_by"]["S"] == v2["version"], item)
    check(rows_of(s3, names, v1["key"]) == newer["summary"]["records_written"],
          "the newer version's rows are the key's rows")

    # A newer version lands after an older one was published: the older one's run, started
    # later, publishes nothing (its task finds the newer version current), and the key keeps
    # the newer version's rows. (A newer version landing *during* a task, so that the task
    # publishes it again, is loglake-trigger's glue_task tests, with a scripted HeadObject.)
    old = put(s3, names["raw"], "logs/late.log", os.path.join(logs, "bunyan/all.log"))
    claim_started(ddb, names["ledger"], old, "jr_" + tag + "_old")
    (first,) = run_job(names, "jr_" + tag + "_old", write_manifest(s3, names, "old", [old]))
    check(first["outcome"] == "processed" and "republished" not in first
          and rows_of(s3, names, old["key"]) == 13, first)
    new = put(s3, names["raw"], "logs/late.log", os.path.join(logs, "lnav/logfile_invalid_json.json"))
    claim_started(ddb, names["ledger"], new, "jr_" + tag + "_new")
    (second,) = run_job(names, "jr_" + tag + "_new", write_manifest(s3, names, "new", [new]))
    check(second["outcome"] == "processed" and rows_of(s3, names, old["key"]) == 4,
          "the newer version's 4 rows, not the older's 13")

    # The compaction schedule's run: the same job with --LOGLAKE_MODE compact (infra/compaction.tf
    # passes these arguments). Partitions with two or more files are rewritten, switched to
    # gen-1 in the catalog, claimed and SUCCEEDED in the ledger; the rows read back through the
    # catalog's locations are the same before and after.
    before = catalog_rows(s3, glue, names)
    # One partition's claim was left STARTED by an earlier compaction run that died (its
    # executor was lost): a run moto's Glue has ended. The new run takes the claim over.
    job_name = f"loglake-transform-{tag}"
    glue.create_job(Name=job_name, Role="arn:aws:iam::123456789012:role/glue",
                    Command={"Name": "glueetl", "ScriptLocation": "s3://x/y.py"})
    dead = glue.start_job_run(JobName=job_name)["JobRunId"]
    state = glue.get_job_run(JobName=job_name, RunId=dead)["JobRun"]["JobRunState"]
    check(state in ("SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR"), state)
    stuck = f"{location}/dt=2013-09-06/hr=20#compact-g0"
    ddb.put_item(TableName=names["ledger"], Item={
        "id": {"S": stuck}, "status": {"S": "STARTED"}, "job_run_id": {"S": dead},
        "owner": {"S": dead}, "attempts": {"N": "1"}, "lease_until": {"N": "0"},
        "expires_at": {"N": "0"}})
    compacted = job.main(["loglake_glue_job.py", "--JOB_NAME", job_name,
                          "--JOB_RUN_ID", "jr_" + tag + "_compact", "--LOGLAKE_MODE", "compact",
                          "--LOGLAKE_OUTPUT", f"s3://{names['clean']}",
                          "--LOGLAKE_SCHEMA", f"s3://{names['code']}/schemas/app_logs.json",
                          "--LOGLAKE_DATABASE", names["db"], "--LOGLAKE_TABLE", "app_logs",
                          "--LOGLAKE_LEDGER_TABLE", names["ledger"],
                          "--LOGLAKE_BINARY", os.environ["LOGLAKE_GLUE_BIN"],
                          "--LOGLAKE_COMPACT_SETTLE_MINUTES", "0",
                          "--LOGLAKE_COMPACT_MIN_FILES", "2",
                          "--LOGLAKE_COMPACT_GRACE_MINUTES", "0"])
    check(compacted and all(r["ok"] and r["outcome"] == "compacted" for r in compacted), compacted)
    check(catalog_rows(s3, glue, names) == before, (before, compacted))
    parts = {p["StorageDescriptor"]["Location"]: p for p in glue.get_partitions(
        DatabaseName=names["db"], TableName="app_logs")["Partitions"]}
    for r in compacted:
        loc = f"{location}/gen-1/{r['partition']}"
        check(loc in parts and parts[loc]["Parameters"].get("loglake.generation") == "1", loc)
        item = ddb.get_item(TableName=names["ledger"], Key={
            "id": {"S": f"{location}/{r['partition']}#compact-g0"}})["Item"]
        check(item["status"]["S"] == "SUCCEEDED", item)
    check("dt=2013-09-06/hr=20" in {r["partition"] for r in compacted},
          "the partition whose claim a dead run held was compacted")
    item = ddb.get_item(TableName=names["ledger"], Key={"id": {"S": stuck}})["Item"]
    check(item["status"]["S"] == "SUCCEEDED" and item["job_run_id"]["S"] == "jr_" + tag + "_compact"
          and item["attempts"]["N"] == "2", item)

    # A task binary whose stdout is not exactly one JSON result is a failed object, not a
    # guess at which line was meant.
    fake = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"loglake-chatty-{tag}")
    with open(fake, "w") as f:
        f.write('#!/bin/sh\necho "progress: 50%"\necho \'{"ok": true}\'\n')
    os.chmod(fake, 0o755)
    chatty = job.run_one('{"bucket":"b","key":"k","version":"v"}',
                         {"binary": fake, "region": "us-east-1", "task_args": []})
    os.unlink(fake)
    check(chatty["ok"] is False and "not one JSON result" in chatty["error"], chatty)

    # A task whose object line is not a plan line fails with the reason, and the run fails.
    p = subprocess.run([os.environ["LOGLAKE_GLUE_BIN"], "glue-task", "object", "--object", "{}",
                        "--output", f"s3://{names['clean']}",
                        "--schema", f"s3://{names['code']}/schemas/app_logs.json"],
                       capture_output=True, text=True)
    check(p.returncode == 2 and "not a plan line" in p.stderr, (p.returncode, p.stderr))

    per_object = run_seconds / len(objects)
    print(json.dumps({"glue_entry_script": "ok", "objects": len(objects) + 3,
                      "spark_start_s": round(spark_start, 2), "first_run_s": round(run_seconds, 2),
                      "per_object_s": round(per_object, 2),
                      "transform_s_per_object": round(
                          sum(r["seconds"] for r in results) / len(results), 3)}))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pymain
    pymain.run(main, Failed)
