#!/usr/bin/env python3
"""Measures the trigger Lambda's `bootstrap` as Lambda runs it, against a moto server.

A minimal Lambda Runtime API (the three calls lambda_runtime makes) is served on loopback; the
binary is started with AWS_LAMBDA_RUNTIME_API pointing at it and AWS_ENDPOINT_URL at moto. Reports:
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
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3


class RuntimeApi:
    """Hands out queued events and records answers, like Lambda's Runtime API."""

    def __init__(self):
        self.events = []
        self.cv = threading.Condition()
        self.first_next = None
        self.answers = {}
        self.sent = {}

    def push(self, event):
        rid = str(uuid.uuid4())
        with self.cv:
            self.events.append((rid, event))
            self.cv.notify_all()
        return rid

    def wait(self, rid, timeout=30):
        with self.cv:
            ok = self.cv.wait_for(lambda: rid in self.answers, timeout)
            if not ok:
                raise TimeoutError(rid)
            return self.answers[rid]


def handler_class(api):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _reply(self, code, body=b"", headers=None):
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if not self.path.endswith("/runtime/invocation/next"):
                return self._reply(404)
            with api.cv:
                if api.first_next is None:
                    api.first_next = time.monotonic()
                    api.cv.notify_all()
                api.cv.wait_for(lambda: api.events)
                rid, event = api.events.pop(0)
                api.sent[rid] = time.monotonic()
            body = json.dumps(event).encode()
            deadline = int(time.time() * 1000) + 60_000
            self._reply(200, body, {
                "Lambda-Runtime-Aws-Request-Id": rid,
                "Lambda-Runtime-Deadline-Ms": str(deadline),
                "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:bench",
                "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
                "Content-Type": "application/json",
            })

        def do_POST(self):
            n = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(n)
            parts = self.path.split("/")
            # /2018-06-01/runtime/invocation/<id>/response|error, /runtime/init/error
            if "invocation" in parts and len(parts) >= 6:
                rid, kind = parts[4], parts[5]
                with api.cv:
                    api.answers[rid] = (kind, body, time.monotonic() - api.sent.get(rid, 0))
                    api.cv.notify_all()
            else:
                print(f"init error: {body.decode(errors='replace')}", file=sys.stderr)
            self._reply(202, b"{}")

    return H


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

    api = RuntimeApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class(api))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_port}",
               AWS_ENDPOINT_URL=a.moto_url, AWS_REGION="us-east-1",
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_LAMBDA_FUNCTION_NAME="bench", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
               AWS_LAMBDA_FUNCTION_VERSION="1", AWS_LAMBDA_LOG_FORMAT="JSON",
               AWS_LAMBDA_LOG_LEVEL="WARN",
               LOGLAKE_LEDGER_TABLE=table, LOGLAKE_GLUE_JOB=job, LOGLAKE_RAW_BUCKET=raw,
               LOGLAKE_RAW_PREFIX="logs/")
    t0 = time.monotonic()
    out_path = os.environ.get("LOGLAKE_BENCH_LOG", "/tmp/loglake-bench-bootstrap.log")
    out = open(out_path, "wb")
    proc = subprocess.Popen([a.bootstrap], env=env, stdout=out, stderr=subprocess.STDOUT)
    with api.cv:
        api.cv.wait_for(lambda: api.first_next is not None, 30)
    init_ms = (api.first_next - t0) * 1000

    def run_all(evs):
        lat, outcomes = [], {}
        for ev in evs:
            try:
                kind, body, secs = api.wait(api.push(ev))
            except TimeoutError:
                proc.kill()
                raise SystemExit(f"no answer from {a.bootstrap} in 30 s; its output: {out_path}")
            if kind != "response":
                raise SystemExit(f"invocation failed: {body.decode(errors='replace')}")
            for o in json.loads(body)["objects"]:
                outcomes[o["outcome"]] = outcomes.get(o["outcome"], 0) + 1
            lat.append(secs * 1000)
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
    proc.terminate()
    proc.wait()
    server.shutdown()

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
