"""The trigger (`loglake trigger`, the Lambda's handler) through the fault proxy in front of moto.

DynamoDB answers ProvisionedThroughputExceeded, ThrottlingException, InternalServerError and
TransactionCanceledException (TransactionConflict); claim responses are lost after the write
happened (a 500, and a connection reset); Glue answers ThrottlingException and
ConcurrentRunsExceededException to StartJobRun. All seeded. Every event is delivered twice, and an
event whose invocation fails is delivered again, as Lambda's retries and a DLQ replay would, up to
a bound. Then, read straight from moto (not through the proxy, not from our own reports):
- exactly one Glue run per object version, and every run names a version;
- every version's ledger item is STARTED with that run's id (never a run without a claim, never
  a claim stranded IN_PROGRESS).
Not injected: a lost StartJobRun response. Glue's StartJobRun has no idempotency token, so a
retried start after a lost answer starts a second run of the same version; the output is the
same files (DESIGN.md invariant 2) and the second run's end finishes the item (the first's is
stale), but the one-run guarantee does not hold for that case (docs/aws-contracts.md G8).

Run by scripts/test.sh (needs LOGLAKE_MOTO_URL and LOGLAKE_BIN, LOGLAKE_FIXTURES).
"""

import collections
import copy
import json
import os
import subprocess
import sys
import tempfile
import uuid


HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import Failed, Proxy, aws_env, check, client  # noqa: E402

DDB = "com.amazonaws.dynamodb.v20120810#"
ATTEMPTS = 12  # deliveries of one event before the test gives up on it


def clients(url):
    return client("s3", url), client("dynamodb", url), client("glue", url)


def setup(s3, ddb, glue, tag):
    raw, table, job = f"tf-raw-{tag}", f"tf-ledger-{tag}", f"tf-job-{tag}"
    s3.create_bucket(Bucket=raw)
    s3.put_bucket_versioning(Bucket=raw, VersioningConfiguration={"Status": "Enabled"})
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    glue.create_job(Name=job, Role="arn:aws:iam::123456789012:role/glue",
                    Command={"Name": "glueetl", "ScriptLocation": "s3://x/y.py"},
                    ExecutionProperty={"MaxConcurrentRuns": 100})
    return raw, table, job


def event(template, bucket, key, head, sequencer):
    ev = copy.deepcopy(template)
    ev["detail"]["bucket"]["name"] = bucket
    ev["resources"] = [f"arn:aws:s3:::{bucket}"]
    obj = ev["detail"]["object"]
    obj.update({"key": key, "size": head["ContentLength"], "etag": head["ETag"].strip('"'),
                "version-id": head["VersionId"], "sequencer": sequencer})
    return ev


def rules():
    return [
        {"name": "ProvisionedThroughputExceeded", "service": "dynamodb", "action": "status",
         "status": 400, "code": DDB + "ProvisionedThroughputExceededException",
         "probability": 0.1, "seed": 11},
        {"name": "DynamoDB ThrottlingException", "service": "dynamodb", "action": "status",
         "status": 400, "code": DDB + "ThrottlingException", "probability": 0.05},
        {"name": "DynamoDB InternalServerError", "service": "dynamodb", "action": "status",
         "status": 500, "code": DDB + "InternalServerError", "probability": 0.05},
        {"name": "TransactionConflict", "service": "dynamodb", "operation": "TransactWriteItems",
         "action": "status", "status": 400, "probability": 0.15,
         "body": {"__type": DDB + "TransactionCanceledException",
                  "Message": "Transaction cancelled, please refer cancellation reasons for "
                             "specific reasons [None, TransactionConflict]",
                  "CancellationReasons": [{"Code": "None"},
                                          {"Code": "TransactionConflict",
                                           "Message": "Transaction is ongoing for the item"}]}},
        {"name": "claim response lost (500)", "service": "dynamodb",
         "operation": "TransactWriteItems", "action": "status_after", "status": 500,
         "code": DDB + "InternalServerError", "probability": 0.15},
        {"name": "claim response lost (reset)", "service": "dynamodb",
         "operation": "TransactWriteItems", "action": "reset_after", "probability": 0.05},
        {"name": "Glue ThrottlingException", "service": "glue", "operation": "StartJobRun",
         "action": "status", "status": 400, "code": "ThrottlingException", "probability": 0.2},
        {"name": "ConcurrentRunsExceeded", "service": "glue", "operation": "StartJobRun",
         "action": "status", "status": 400, "code": "ConcurrentRunsExceededException",
         "probability": 0.1},
    ]


def deliver(bin_path, proxy_url, env_extra, ev, work):
    path = os.path.join(work, f"ev-{uuid.uuid4().hex}.json")
    with open(path, "w") as f:
        json.dump(ev, f)
    env = {k: v for k, v in aws_env(proxy_url).items() if not k.startswith("LOGLAKE_")}
    env.update(env_extra)
    p = subprocess.run([bin_path, "trigger", "--event", path], capture_output=True, text=True,
                       env=env, timeout=300)
    return p.returncode, p.stdout, p.stderr


def main():
    moto = os.environ["LOGLAKE_MOTO_URL"]
    bin_path = os.environ["LOGLAKE_BIN"]
    fixtures = os.environ.get("LOGLAKE_FIXTURES",
                              os.path.join(HERE, "..", "..", "..", "shared", "fixtures"))
    with open(os.path.join(fixtures, "events", "eventbridge", "awsdocs-2022-object-created.json")) as f:
        template = json.load(f)
    s3, ddb, glue = clients(moto)
    tag = uuid.uuid4().hex[:8]
    raw, table, job = setup(s3, ddb, glue, tag)
    work = tempfile.mkdtemp(prefix="loglake-trigger-faults-")

    # 8 keys, one of them with a second version; sequencers increase in upload order.
    versions, events = [], []
    for i in range(9):
        key = f"logs/app-{min(i, 7)}.json"
        body = json.dumps({"ts": "2024-05-01T00:00:00Z", "n": i}).encode() + b"\n"
        s3.put_object(Bucket=raw, Key=key, Body=body)
        head = s3.head_object(Bucket=raw, Key=key)
        versions.append((key, head["VersionId"]))
        events.append(event(template, raw, key, head, f"{0x100 + i:016X}"))

    env = {"LOGLAKE_LEDGER_TABLE": table, "LOGLAKE_GLUE_JOB": job, "LOGLAKE_RAW_BUCKET": raw,
           "LOGLAKE_RAW_PREFIX": "logs/", "LOGLAKE_MAX_ATTEMPTS": "3"}
    proxy = Proxy(moto)
    failed_invocations, given_up = 0, []
    try:
        proxy.rules(rules())
        for ev in events:
            for copy_ in range(2):  # at-least-once delivery: every event twice
                for attempt in range(ATTEMPTS):
                    code, _, stderr = deliver(bin_path, proxy.url, env, ev, work)
                    if code == 0:
                        break
                    failed_invocations += 1
                else:
                    given_up.append((ev["detail"]["object"]["key"], stderr[-500:]))
        injected = collections.Counter(x["rule"] for x in proxy.log())
    finally:
        proxy.stop()
    check(not given_up, f"events still failing after {ATTEMPTS} deliveries: {given_up[:2]}")

    runs = []
    token = None
    while True:
        page = glue.get_job_runs(JobName=job, **({"NextToken": token} if token else {}))
        runs += page["JobRuns"]
        token = page.get("NextToken")
        if not token:
            break
    per_version = collections.Counter(
        (r["Arguments"].get("--LOGLAKE_KEY"), r["Arguments"].get("--LOGLAKE_VERSION")) for r in runs)
    check(set(per_version) == set(versions),
          f"runs name exactly the uploaded versions: {sorted(per_version)} vs {sorted(versions)}")
    doubled = {v: n for v, n in per_version.items() if n != 1}
    check(not doubled, f"more than one run for a version: {doubled}")
    run_of = {(r["Arguments"]["--LOGLAKE_KEY"], r["Arguments"]["--LOGLAKE_VERSION"]): r["Id"]
              for r in runs}
    items = {}
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        for it in page["Items"]:
            items[it["id"]["S"]] = it
    for key, version in versions:
        it = items.get(f"s3://{raw}/{key}#{version}")
        check(it is not None, f"no ledger item for {key}#{version}")
        check(it["status"]["S"] == "STARTED" and it["job_run_id"]["S"] == run_of[(key, version)],
              f"{key}#{version}: {it['status']['S']} with {it.get('job_run_id')}, "
              f"run {run_of[(key, version)]}")
    stranded = [i for i, it in items.items() if it.get("status", {}).get("S") == "IN_PROGRESS"]
    check(not stranded, f"claims stranded IN_PROGRESS: {stranded}")
    print(json.dumps({"trigger_faults": "ok", "object_versions": len(versions),
                      "deliveries": 2 * len(events) + failed_invocations,
                      "failed_invocations_retried": failed_invocations,
                      "injected": dict(injected), "glue_runs": len(runs),
                      "runs_per_version": 1, "stranded_claims": 0}))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pymain
    pymain.run(main, Failed)
