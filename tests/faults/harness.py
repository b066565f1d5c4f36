"""What the fault tests share: the fault proxy's client, the generator, the AWS environment of a
`loglake` process, and readers of the truth (rows read back with pyarrow, the local ledger
read from state.db). Checks raise explicit errors (they hold under python -O)."""

import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import urllib.request

import boto3
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Failed(Exception):
    pass


def check(ok, what):
    if not ok:
        raise Failed(what)


class Proxy:
    """scripts/fault_proxy.py in front of `upstream`, as a child process."""

    def __init__(self, upstream):
        self.p = subprocess.Popen([sys.executable, os.path.join(ROOT, "scripts", "fault_proxy.py"),
                                   "--upstream", upstream], stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        check(line.startswith("fault proxy: "), f"the fault proxy did not start: {line!r}")
        self.url = line.split(": ", 1)[1].strip()

    def control(self, path, body=None):
        req = urllib.request.Request(self.url + path, method="POST" if body is not None else "GET",
                                     data=None if body is None else json.dumps(body).encode())
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def rules(self, rules):
        self.control("/__faults__/rules", rules)

    def log(self):
        return self.control("/__faults__/log")

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=10)


# The tests' AWS identity on moto, for `loglake` processes and for the tests' own clients.
CREDENTIALS = dict(aws_access_key_id="testing", aws_secret_access_key="testing",
                   region_name="us-east-1")


def aws_env(endpoint):
    """The environment of a `loglake` process talking to `endpoint` (moto or the proxy)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID=CREDENTIALS["aws_access_key_id"],
               AWS_SECRET_ACCESS_KEY=CREDENTIALS["aws_secret_access_key"],
               AWS_REGION=CREDENTIALS["region_name"])
    return env


def client(service, endpoint):
    """A boto3 client of `service` talking to `endpoint`, as the tests' identity."""
    return boto3.client(service, endpoint_url=endpoint, **CREDENTIALS)


def generate(bin_path, out, files, lines, seed, *extra):
    """`loglake gen` (gzip, 1-2% bad lines) and the generator's own report."""
    g = subprocess.run([bin_path, "gen", "--out", out, "--files", str(files), "--lines",
                        str(lines), "--seed", str(seed), "--gzip", *extra],
                       capture_output=True, text=True, check=True)
    return json.loads(g.stdout)


def ledger_items(root):
    """The local ledger, read straight from state.db: id -> (status, attempts)."""
    con = sqlite3.connect(os.path.join(root, "state.db"))
    try:
        return {i: (st, n) for i, st, n in con.execute("SELECT id, status, attempts FROM ledger")}
    finally:
        con.close()


def table_rows(s3, clean):
    """Rows and trace ids of every Parquet file in the clean bucket, read back with pyarrow."""
    ids, files = [], []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=clean, Prefix="clean/"):
        for o in page.get("Contents", []):
            if o["Key"].endswith(".parquet"):
                files.append(o["Key"])
                body = s3.get_object(Bucket=clean, Key=o["Key"])["Body"].read()
                ids += pq.read_table(io.BytesIO(body), columns=["trace_id"]).column(0).to_pylist()
    return ids, files


def source_id(bucket, key):
    """DESIGN.md invariant 2's source id, computed here independently."""
    return hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()[:16]


