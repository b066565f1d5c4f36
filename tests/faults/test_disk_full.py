"""A full disk while `loglake transform` writes a local folder: a 300 KiB tmpfs (mounted here; the
suite runs as root), two objects of 20,000 lines each.

Checks: every object fails with an error naming the file and ENOSPC; nothing is published (no
Parquet file, no quarantine file: a source's files are finished under in-progress names and
renamed into place only once all of them are whole; before that, 9 files of the failed objects
were visible here); no in-progress file is left behind (before that fix, the writer's
`.inprogress` files of every open partition stayed and kept the disk full). Then the same folder
with room (remounted at 64 MiB): the rerun writes the generator's lines - bad lines, each once.

Run by scripts/test.sh (needs LOGLAKE_BIN; root for mount).
"""

import json
import os
import subprocess
import sys
import tempfile

import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import Failed, check, generate  # noqa: E402


def files_under(root):
    for d, _, names in os.walk(root):
        for n in names:
            yield os.path.join(d, n)


def transform(bin_path, raw, out):
    p = subprocess.run([bin_path, "transform", "--quiet", "--input", raw, "--output", out],
                       capture_output=True, text=True, timeout=300)
    return p.returncode, [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]


def main():
    bin_path = os.environ["LOGLAKE_BIN"]
    work = tempfile.mkdtemp(prefix="loglake-diskfull-")
    report = generate(bin_path, os.path.join(work, "raw"), 2, 20000, 9)
    want = report["lines"] - report["bad_lines"]
    mnt = os.path.join(work, "tiny")
    os.makedirs(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", mnt], check=True)
    try:
        out = os.path.join(mnt, "out")
        code, lines = transform(bin_path, os.path.join(work, "raw"), out)
        check(code == 1 and len(lines) == 2 and all("error" in x for x in lines),
              f"a full disk must fail both objects: exit {code}, {lines}")
        check(all("No space left on device" in x["error"] and mnt in x["error"] for x in lines),
              f"the errors name the file and ENOSPC: {[x['error'] for x in lines]}")
        left = [f for f in files_under(out) if f.endswith(".inprogress")]
        check(not left, f"in-progress files left behind: {left[:3]} (+{max(0, len(left) - 3)})")
        published = [f for f in files_under(out)
                     if f.endswith(".parquet") or f.endswith(".ndjson.gz")]
        check(not published, f"a failed object published {len(published)} files: {published[:3]}")

        subprocess.run(["mount", "-o", "remount,size=64m", mnt], check=True)
        code, lines = transform(bin_path, os.path.join(work, "raw"), out)
        check(code in (0, 1) and not any("error" in x for x in lines),
              f"the rerun with room failed: {lines}")
        rows, ids = 0, []
        for f in files_under(out):
            if f.endswith(".parquet"):
                t = pq.read_table(f, columns=["trace_id"])
                rows += t.num_rows
                ids += t.column(0).to_pylist()
        check(rows == want and len(set(ids)) == want,
              f"after the rerun: {rows} rows ({len(set(ids))} distinct), want {want}")
        check(not [f for f in files_under(out) if f.endswith(".inprogress")],
              "in-progress files after the rerun")
    finally:
        subprocess.run(["umount", mnt], check=False)
    print(json.dumps({"disk_full": "ok", "objects_failed": 2, "inprogress_left": 0,
                      "files_published_by_failed_objects": 0, "rows_after_rerun": want}))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pymain
    pymain.run(main, Failed)
