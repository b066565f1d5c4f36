#!/usr/bin/env python3
"""Measures the trigger Lambda's `bootstrap` as Lambda runs it, against a moto server.

A local Lambda Runtime API (scripts/lambda_runtime_api.py) serves the binary its events; it runs
with AWS_ENDPOINT_URL pointing at moto. Reports:
- init: process start -> its first `GET /invocation/next` (clients built, config read);
- per-invocation latency for N new objects (EventBridge events, per-object mode) and for the
  same events again (duplicates);
- AWS calls per new object, counted in moto's request log.

Usage: bench-trigger.py BOOTSTRAP --moto-url URL --moto-log FILE [--objects N]
(scripts/bench-trigger.sh starts moto and builds the binary.)
"""

import argparse
import json
import os
import re
import statistics
import sys
import uuid

import boto3

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lambda_runtime_api import LocalLambda  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("--moto-url", required=True)
    ap.add_argument("--moto-log", required=True)
    ap.add_argument("--objects", type=int, default=200)
    a = ap.parse_args()

    kw = dict(endpoint_url=a.moto_url, region_name="us-east-1",
              aws_access_key_id="testing", aws_secret_access_key="testing")
    s3, ddb, glue = boto3.client("s3", **kw), boto3.client("dynamodb", **kw), boto3.client("glue", **kw)
    tag = uuid.uuid4().hex[:8]
    raw, table, job = f"bench-raw-{tag}", f"bench-ledger-{tag}", f"bench-job-{tag}"
    s3.create_bucket(Bucket=raw)
    s3.put_bucket_versioning(Bucket=raw, VersioningConfiguration={"Status": "Enabled"})
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    glue.create_job(Name=job, Role="arn:aws:iam::123456789012:role/glue",
                    Command={"Name": "glueetl", "ScriptLocation": "s3://x/y.py"},
                    ExecutionProperty={"MaxConcurrentRuns": 1000})
    events = []
    for i in range(a.objects):
        key = f"logs/app/{i:05d}.json"
        v = s3.put_object(Bucket=raw, Key=key, Body=b'{"ts":1}\n')["VersionId"]
        events.append({"version": "0", "source": "aws.s3", "detail-type": "Object Created",
                       "detail": {"bucket": {"name": raw}, "object": {
                           "key": key, "size": 9, "version-id": v, "sequencer": f"{i + 1:018X}"},
                           "reason": "PutObject"}})

    out_path = os.environ.get("LOGLAKE_BENCH_LOG", "/tmp/loglake-bench-bootstrap")
    env = dict(os.environ, AWS_ENDPOINT_URL=a.moto_url, AWS_REGION="us-east-1",
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="WARN",
               LOGLAKE_LEDGER_TABLE=table, LOGLAKE_GLUE_JOB=job, LOGLAKE_RAW_BUCKET=raw,
               LOGLAKE_RAW_PREFIX="logs/")
    fn = LocalLambda(a.bootstrap, env, function_name="bench", log_prefix=out_path)
    init_ms = fn.start()

    def run_all(evs):
        lat, outcomes = [], {}
        for ev in evs:
            answer = fn.invoke(ev)
            if answer.kind != "response":
                raise SystemExit(f"invocation failed: {answer.body.decode(errors='replace')}")
            for o in answer.json()["objects"]:
                outcomes[o["outcome"]] = outcomes.get(o["outcome"], 0) + 1
            lat.append(answer.seconds * 1000)
        return lat, outcomes

    request = re.compile(rb'"[A-Z]+ \S+ HTTP/1\.[01]" \d{3}')

    def log_lines():
        with open(a.moto_log, "rb") as f:
            return sum(1 for line in f if request.search(line))

    before = log_lines()
    new_lat, new_out = run_all(events)
    calls_new = log_lines() - before
    before = log_lines()
    dup_lat, dup_out = run_all(events)
    calls_dup = log_lines() - before
    fn.stop()

    def stats(xs):
        xs = sorted(xs)
        return {"p50_ms": round(statistics.median(xs), 2), "p95_ms": round(xs[int(len(xs) * 0.95) - 1], 2),
                "mean_ms": round(statistics.fmean(xs), 2)}

    print(json.dumps({
        "binary": a.bootstrap, "binary_bytes": os.path.getsize(a.bootstrap),
        "init_ms": round(init_ms, 1),
        "new_objects": {"n": len(events), "outcomes": new_out, **stats(new_lat),
                        "aws_calls_per_object": round(calls_new / len(events), 2)},
        "duplicates": {"n": len(events), "outcomes": dup_out, **stats(dup_lat),
                       "aws_calls_per_object": round(calls_dup / len(events), 2)},
    }, indent=2))


if __name__ == "__main__":
    main()
