"""A seeded soak: many raw objects through `loglake run` on S3 stores, with faults of every kind
at a few percent injected by the fault proxy, run after run until the ledger is settled; then the
invariants, against independent truth (the generator's report, rows read back with pyarrow, the
ledger read from state.db):
- every object version SUCCEEDED (none exhausted), rows = generated - bad, each once;
- nothing of a failed attempt left behind: no file outside the sources' own names.
Prints faults by kind, rounds, objects failed then recovered, rows lost and duplicated.

CI size: `python tests/faults/soak.py` (200 objects); longer: `--objects 2000 --lines 500`.
Needs LOGLAKE_MOTO_URL and LOGLAKE_BIN.
"""

import argparse
import collections
import json
import os
import re
import sys
import tempfile
import uuid


HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import (Failed, client, Proxy, check, generate, ledger_items, source_id,  # noqa: E402
                     table_rows)
from test_s3_faults import run_pipeline  # noqa: E402


def faults(raw, clean, rate, seed):
    """Every kind the proxy injects, at `rate` each (reads of raw objects, writes of the table)."""
    r = rate
    return [
        {"name": "cut body", "service": "s3", "method": "GET", "path": rf"^/{raw}/soak/.+",
         "action": "cut_body", "fraction": 0.4, "probability": r, "seed": seed},
        {"name": "reset before", "service": "s3", "action": "reset_before", "probability": r},
        {"name": "SlowDown", "service": "s3", "action": "status", "status": 503,
         "code": "SlowDown", "probability": r},
        {"name": "500", "service": "s3", "action": "status", "status": 500,
         "code": "InternalError", "probability": r},
        {"name": "lost PUT response", "service": "s3", "method": "PUT", "path": rf"^/{clean}/",
         "action": "status_after", "status": 500, "code": "InternalError", "probability": r},
        {"name": "reset after PUT", "service": "s3", "method": "PUT", "path": rf"^/{clean}/",
         "action": "reset_after", "probability": r},
        {"name": "lost DeleteObjects response", "service": "s3", "method": "POST",
         "path": rf"^/{clean}/?\?delete", "action": "status_after", "status": 500,
         "code": "InternalError", "probability": r},
        {"name": "latency", "service": "s3", "action": "latency", "ms": 30, "probability": r},
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=200)
    ap.add_argument("--lines", type=int, default=100)
    ap.add_argument("--rate", type=float, default=0.03, help="probability of each fault kind")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=6, help="runs under faults before a healthy one")
    a = ap.parse_args()
    moto, bin_path = os.environ["LOGLAKE_MOTO_URL"], os.environ["LOGLAKE_BIN"]
    s3 = client("s3", moto)
    tag = uuid.uuid4().hex[:8]
    raw, clean = f"soak-raw-{tag}", f"soak-clean-{tag}"
    for b in (raw, clean):
        s3.create_bucket(Bucket=b)
    work = tempfile.mkdtemp(prefix="loglake-soak-")
    report = generate(bin_path, os.path.join(work, "gen"), a.objects, a.lines, a.seed,
                      "--bad-ratio", "0.02")
    want = report["lines"] - report["bad_lines"]
    keys = []
    for path in report["files"]:
        key = f"soak/{os.path.basename(path)}"
        with open(path, "rb") as f:
            s3.put_object(Bucket=raw, Key=key, Body=f.read())
        keys.append(key)

    root = os.path.join(work, "root")
    proxy = Proxy(moto)
    rounds, failed_ever, injected = [], set(), collections.Counter()
    try:
        proxy.rules(faults(raw, clean, a.rate, a.seed))
        for _ in range(a.rounds):
            code, lines, stderr = run_pipeline(bin_path, proxy.url, root, raw, clean,
                                               ["--max-attempts", "100"], prefix="soak/")
            outcomes = collections.Counter(x.get("outcome") for x in lines)
            failed_ever |= {x["key"] for x in lines if x.get("outcome") == "failed"}
            rounds.append(dict(outcomes))
            if all(st == "SUCCEEDED" for st, _ in ledger_items(root).values()) \
                    and len(ledger_items(root)) == len(keys):
                break
        injected.update(x["rule"] for x in proxy.log())
        proxy.rules([])
        code, lines, stderr = run_pipeline(bin_path, proxy.url, root, raw, clean,
                                           ["--max-attempts", "100"], prefix="soak/")
        rounds.append(dict(collections.Counter(x.get("outcome") for x in lines)))
    finally:
        proxy.stop()

    ledger = ledger_items(root)
    check(len(ledger) == len(keys), f"{len(ledger)} ledger items for {len(keys)} objects")
    bad = {i: v for i, v in ledger.items() if v[0] != "SUCCEEDED"}
    check(not bad, f"not SUCCEEDED after the healthy run: {list(bad.items())[:3]}")
    ids, files = table_rows(s3, clean)
    check(len(ids) == want and len(set(ids)) == want,
          f"soak: {len(ids)} rows ({len(set(ids))} distinct), want {want}")
    ours = {source_id(raw, k) for k in keys}
    strays = [f for f in files
              if (m := re.search(r"part-([0-9a-f]{16})-\d+\.parquet$", f)) is None
              or m.group(1) not in ours]
    check(not strays, f"files that are no source's: {strays[:3]}")
    retries = sum(v[1] - 1 for v in ledger.values())
    print(json.dumps({"soak": "ok", "objects": len(keys), "rows": want, "rounds": rounds,
                      "faults_injected": dict(injected), "faults_total": sum(injected.values()),
                      "objects_failed_then_recovered": len(failed_ever),
                      "extra_attempts": retries, "rows_lost": want - len(set(ids)),
                      "rows_duplicated": len(ids) - len(set(ids))}))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pymain
    pymain.run(main, Failed)
