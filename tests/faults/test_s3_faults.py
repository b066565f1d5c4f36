"""`loglake transform` S3 -> S3 through the fault proxy (scripts/fault_proxy.py) in front of moto.

Each scenario injects faults at the process boundary, then a healthy rerun, and checks the
invariants against independent truth: the generator's own report (lines, bad lines) and the
rows read back from moto with pyarrow (never the transform's own summaries):
- bodies cut mid-stream on every GET of the raw objects (the SDK's resumed reads included):
  every object fails with a read error, nothing is published; the rerun writes every row;
- lost responses to PUT and DELETE (the write happened, the answer is a 500) and 503 SlowDown,
  seeded: whatever the faulty run did, the rerun leaves exactly generated - bad rows, each
  once (distinct ids = rows), and no file of another version.
Prints what was injected and what was observed as one JSON line.

Run by scripts/test.sh (needs LOGLAKE_MOTO_URL and LOGLAKE_BIN).
"""

import collections
import json
import os
import subprocess
import sys
import tempfile
import uuid


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Failed, client, Proxy, aws_env, check, generate, ledger_items,  # noqa: E402
                     source_id, table_rows)


def transform(bin_path, endpoint, raw, clean, prefix):
    p = subprocess.run([bin_path, "transform", "--quiet", "--input", f"s3://{raw}/{prefix}",
                        "--output", f"s3://{clean}"], capture_output=True, text=True,
                       env=aws_env(endpoint), timeout=600)
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    return p.returncode, lines, p.stderr


def run_pipeline(bin_path, endpoint, root, raw, clean, extra=(), prefix="logs/"):
    p = subprocess.run([bin_path, "run", "--root", root, "--raw", f"s3://{raw}/{prefix}",
                        "--clean", f"s3://{clean}/clean", *extra], capture_output=True,
                       text=True, env=aws_env(endpoint), timeout=900)
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    return p.returncode, lines, p.stderr


def main():
    moto = os.environ["LOGLAKE_MOTO_URL"]
    bin_path = os.environ["LOGLAKE_BIN"]
    s3 = client("s3", moto)
    tag = uuid.uuid4().hex[:8]
    raw, clean = f"faults-raw-{tag}", f"faults-clean-{tag}"
    for b in (raw, clean):
        s3.create_bucket(Bucket=b)
    s3.put_bucket_versioning(Bucket=raw, VersioningConfiguration={"Status": "Enabled"})
    work = tempfile.mkdtemp(prefix="loglake-faults-")

    def one_file(name, seed, start):
        return generate(bin_path, os.path.join(work, name), 1, 10000, seed, "--bad-ratio",
                        "0.01", "--start", start)

    def upload(key, rep):
        with open(rep["files"][0], "rb") as f:
            s3.put_object(Bucket=raw, Key=key, Body=f.read())

    current = {f"logs/app-{i}.ndjson.gz": one_file(f"v1-{i}", 41 + i, "2024-05-01T00:00:00Z")
               for i in range(4)}
    for key, rep in current.items():
        upload(key, rep)
    report = {"files": list(current), "lines": sum(r["lines"] for r in current.values()),
              "bad_lines": sum(r["bad_lines"] for r in current.values())}
    want = report["lines"] - report["bad_lines"]
    proxy = Proxy(moto)
    observed = {}
    try:
        # 1. Every GET of a raw object breaks off half-way.
        proxy.rules([{"name": "cut raw bodies", "service": "s3", "method": "GET",
                      "path": rf"^/{raw}/logs/.+", "action": "cut_body", "fraction": 0.5}])
        code, lines, stderr = transform(bin_path, proxy.url, raw, clean, "logs/")
        cuts = len(proxy.log())
        check(code == 1, f"cut bodies: exit {code} (want 1); stderr: {stderr[-800:]}")
        check(len(lines) == len(current) and all("error" in x for x in lines),
              f"cut bodies: every object must fail, not be quarantined: {lines}")
        check(all("reading" in x["error"] and "nothing was published" in x["error"] for x in lines),
              f"cut bodies: the error names the failed read: {[x.get('error') for x in lines]}")
        ids, files = table_rows(s3, clean)
        check(not files, f"cut bodies: nothing may be published, found {files[:3]}")
        observed["cut_bodies"] = {"injected": cuts, "objects_failed": len(lines), "published": 0}

        # 2. Healthy rerun: every row, once.
        proxy.rules([])
        code, lines, stderr = transform(bin_path, proxy.url, raw, clean, "logs/")
        ids, files = table_rows(s3, clean)
        check(code in (0, 1) and not any("error" in x for x in lines), f"rerun failed: {stderr[-800:]}")
        check(len(ids) == want, f"rerun: {len(ids)} rows, want generated {report['lines']} - bad "
                                f"{report['bad_lines']} = {want}")
        check(len(set(ids)) == len(ids), "rerun: duplicate rows")

        # 3. A new version of one key, in other hours (its previous files must be deleted),
        # under lost PUT/DELETE responses and SlowDown, seeded; then a healthy rerun.
        replaced = "logs/app-0.ndjson.gz"
        current[replaced] = one_file("v2-0", 97, "2024-06-01T00:00:00Z")
        upload(replaced, current[replaced])
        want = sum(r["lines"] - r["bad_lines"] for r in current.values())
        proxy.rules([
            {"name": "lost PUT response", "service": "s3", "method": "PUT", "path": rf"^/{clean}/",
             "action": "status_after", "status": 500, "code": "InternalError", "probability": 0.3,
             "seed": 7},
            {"name": "lost DELETE response", "service": "s3", "method": "DELETE",
             "path": rf"^/{clean}/", "action": "status_after", "status": 500,
             "code": "InternalError", "probability": 0.5},
            {"name": "lost DeleteObjects response", "service": "s3", "method": "POST",
             "path": rf"^/{clean}/?\?delete", "action": "status_after", "status": 500,
             "code": "InternalError", "probability": 0.5},
            {"name": "SlowDown", "service": "s3", "action": "status", "status": 503,
             "code": "SlowDown", "probability": 0.05},
        ])
        code, lines, stderr = transform(bin_path, proxy.url, raw, clean, "logs/")
        injected = collections.Counter(x["rule"] for x in proxy.log())
        failed = sum(1 for x in lines if "error" in x)
        proxy.rules([])
        code, lines, stderr = transform(bin_path, proxy.url, raw, clean, "logs/")
        ids, files = table_rows(s3, clean)
        check(not any("error" in x for x in lines), f"rerun after lost responses: {stderr[-800:]}")
        check(not [f for f in files if "/dt=2024-05-01/" in f and source_id(raw, replaced) in f],
              "after lost responses: files of the replaced version are left")
        check(len(ids) == want and len(set(ids)) == want,
              f"after lost responses: {len(ids)} rows ({len(set(ids))} distinct), want {want}")
        observed["lost_responses"] = {"injected": dict(injected), "objects_failed_then": failed,
                                      "rows_lost": want - len(set(ids)),
                                      "rows_duplicated": len(ids) - len(set(ids))}

        # 4. `loglake run` (the local pipeline) with S3 raw and clean stores, every raw GET cut:
        # each object FAILED in the ledger (read straight from state.db), nothing published;
        # then healthy: each SUCCEEDED on its second attempt, every row once.
        clean2 = f"faults-run-{tag}"
        s3.create_bucket(Bucket=clean2)
        root = os.path.join(work, "root")
        proxy.rules([{"name": "cut raw bodies (run)", "service": "s3", "method": "GET",
                      "path": rf"^/{raw}/logs/.+", "action": "cut_body", "fraction": 0.3}])
        code, lines, stderr = run_pipeline(bin_path, proxy.url, root, raw, clean2)
        cuts = len(proxy.log())
        ledger = ledger_items(root)
        check(code == 1 and len(ledger) == len(current)
              and all(st == "FAILED" for st, _ in ledger.values()),
              f"run with cut bodies: exit {code}, ledger {ledger}; stderr {stderr[-600:]}")
        check(not table_rows(s3, clean2)[1], "run with cut bodies: nothing may be published")
        proxy.rules([])
        code, lines, stderr = run_pipeline(bin_path, proxy.url, root, raw, clean2)
        ledger = ledger_items(root)
        ids, _ = table_rows(s3, clean2)
        check(all(v == ("SUCCEEDED", 2) for v in ledger.values()),
              f"run after the faults: ledger {ledger}; stderr {stderr[-600:]}")
        check(len(ids) == want and len(set(ids)) == want,
              f"run after the faults: {len(ids)} rows ({len(set(ids))} distinct), want {want}")
        observed["run_cut_bodies"] = {"injected": cuts, "failed_then_succeeded": len(ledger),
                                      "rows_lost": want - len(set(ids)),
                                      "rows_duplicated": len(ids) - len(set(ids))}
    finally:
        proxy.stop()
    print(json.dumps({"s3_faults": "ok", "objects": len(current), "rows": want,
                      **observed}))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pymain
    pymain.run(main, Failed)
