"""`kill -9` of `loglake transform --output s3://…` and of `loglake run` (S3 stores) at every
step of the S3 publish order, then a healthy rerun: the table must be exactly what a clean run
gives (for `run`, the rerun also takes back the dead process's claim from its ledger).

The publish replaces an object's previous version (in other hours), so every step of the order
is on the path: the per-source manifest (old and new files), the data files, the quarantine
file, the removals, the final manifest. The fault proxy holds the N-th write request to the
clean bucket (PUT, POST, DELETE) without answering; once the proxy's log shows it holding, the
process is killed with SIGKILL. N runs over every write a healthy publish makes. After each
kill a rerun without faults must leave, read back from moto with pyarrow: the new version's
rows (the generator's report: lines - bad) each once, and exactly the Parquet keys a clean run
into a fresh bucket writes (no file of the old version, no stray).

Run by scripts/test.sh (needs LOGLAKE_MOTO_URL and LOGLAKE_BIN).
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid


HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import Failed, Proxy, aws_env, check, client, generate, table_rows  # noqa: E402


def command(mode, bin_path, raw, key, clean, root):
    """The process under test: `transform` of the one object, or `run` over its prefix (the
    local pipeline, its ledger in `root`)."""
    if mode == "transform":
        return [bin_path, "transform", "--quiet", "--input", f"s3://{raw}/{key}",
                "--output", f"s3://{clean}"]
    return [bin_path, "run", "--quiet", "--root", root, "--raw", f"s3://{raw}/logs/",
            "--clean", f"s3://{clean}/clean"]


def healthy(mode, bin_path, endpoint, raw, key, clean, root):
    p = subprocess.run(command(mode, bin_path, raw, key, clean, root), capture_output=True,
                       text=True, env=aws_env(endpoint), timeout=300)
    check(p.returncode in (0, 1) and '"error"' not in p.stdout and '"failed"' not in p.stdout,
          f"{mode} failed: {p.returncode} {p.stdout[-300:]} {p.stderr[-600:]}")


def keys_of(s3, bucket):
    out = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        out |= {o["Key"] for o in page.get("Contents", [])}
    return out


def crash_every_write(mode, s3, proxy, bin_path, moto, raw, key, tag, work, upload, versions,
                      want, ref_keys):
    """Publishes v1, then kills the publish of v2 at its N-th write for every N, reruns, and
    compares with the reference. Returns what was killed where."""
    v1, v2 = versions
    kills = []
    n, total = 1, None
    while total is None or n <= total:
        clean, root = f"crash-{mode}-{tag}-{n}", os.path.join(work, f"root-{mode}-{n}")
        s3.create_bucket(Bucket=clean)
        upload(v1)
        healthy(mode, bin_path, moto, raw, key, clean, root)
        upload(v2)
        if total is None:
            # Count the writes of a healthy publish of v2 over v1 (a bucket of its own).
            counted, croot = f"crash-{mode}-count-{tag}", os.path.join(work, f"count-{mode}")
            s3.create_bucket(Bucket=counted)
            upload(v1)
            healthy(mode, bin_path, moto, raw, key, counted, croot)
            upload(v2)
            proxy.rules([{"name": "count", "service": "s3", "path": rf"^/{counted}",
                          "method": "PUT|POST|DELETE", "action": "latency", "ms": 0}])
            healthy(mode, bin_path, proxy.url, raw, key, counted, croot)
            total = len(proxy.log())
            check(total >= 4, f"{mode}: a publish made only {total} writes")
        proxy.rules([{"name": f"hold write {n}", "service": "s3", "path": rf"^/{clean}",
                      "method": "PUT|POST|DELETE", "action": "hold", "ms": 60000,
                      "after": n - 1}])
        p = subprocess.Popen(command(mode, bin_path, raw, key, clean, root),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=aws_env(proxy.url))
        deadline = time.monotonic() + 120
        while not proxy.log() and p.poll() is None:
            check(time.monotonic() < deadline, f"{mode}: write {n} was never held")
            time.sleep(0.01)
        check(p.poll() is None, f"{mode}: write {n}: the process ended before it was held")
        held = proxy.log()[0]
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        kills.append(f"{held['method']} {held['path'].split('?')[0][len(clean) + 2:]}")
        proxy.rules([])
        healthy(mode, bin_path, proxy.url, raw, key, clean, root)
        ids, files = table_rows(s3, clean)
        where = f"{mode} killed at write {n} ({kills[-1]})"
        check(len(ids) == want and len(set(ids)) == want,
              f"{where}: {len(ids)} rows ({len(set(ids))} distinct), want {want}")
        got = {k for k in keys_of(s3, clean) if k.endswith(".parquet")}
        check(got == ref_keys, f"{where}: files differ from a clean run: extra "
                               f"{sorted(got - ref_keys)[:3]}, missing {sorted(ref_keys - got)[:3]}")
        n += 1
    return {"writes_per_publish": total, "kills": len(kills), "killed_at": kills}


def main():
    moto, bin_path = os.environ["LOGLAKE_MOTO_URL"], os.environ["LOGLAKE_BIN"]
    s3 = client("s3", moto)
    tag = uuid.uuid4().hex[:8]
    raw, reference = f"crash-raw-{tag}", f"crash-ref-{tag}"
    for b in (raw, reference):
        s3.create_bucket(Bucket=b)
    work = tempfile.mkdtemp(prefix="loglake-crash-")

    def one_file(name, seed, start):
        return generate(bin_path, os.path.join(work, name), 1, 4000, seed, "--bad-ratio",
                        "0.02", "--start", start, "--hours", "6")

    key = "logs/app.ndjson.gz"
    v1, v2 = one_file("v1", 1, "2024-05-01T00:00:00Z"), one_file("v2", 2, "2024-05-02T00:00:00Z")
    want = v2["lines"] - v2["bad_lines"]

    def upload(rep):
        with open(rep["files"][0], "rb") as f:
            s3.put_object(Bucket=raw, Key=key, Body=f.read())

    # The reference: a clean run of v2 alone.
    upload(v2)
    healthy("transform", bin_path, moto, raw, key, reference, None)
    ref_keys = {k for k in keys_of(s3, reference) if k.endswith(".parquet")}

    proxy = Proxy(moto)
    report = {}
    try:
        for mode in ("transform", "run"):
            report[mode] = crash_every_write(mode, s3, proxy, bin_path, moto, raw, key, tag,
                                             work, upload, (v1, v2), want, ref_keys)
    finally:
        proxy.stop()
    print(json.dumps({"crash": "ok", "rows": want, **report}))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pymain
    pymain.run(main, Failed)
