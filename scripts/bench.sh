#!/usr/bin/env bash
# Benchmark of `loglake transform` (DESIGN.md §8; not a timed test).
#
#   scripts/bench.sh            # ~1 GiB uncompressed gzip NDJSON: 64 files over 3 days, then
#                               # one 1 GiB file spanning 72 hourly partitions
#   scripts/bench.sh --duckdb   # also run DuckDB (pip, in .venv-bench) on the same data set
#
# Reports MB/s of uncompressed input, rows/s and peak RSS (/usr/bin/time -v). Data is generated
# once with `loglake gen` (seed 42) under $BENCH_DIR (default /var/tmp/loglake-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/loglake-target}"
BENCH_DIR="${BENCH_DIR:-/var/tmp/loglake-bench}"
LINES_PER_FILE="${LINES_PER_FILE:-40000}"   # 64 x 40000 lines x ~416 B ≈ 1.07 GB uncompressed
with_duckdb=false
[[ "${1:-}" == "--duckdb" ]] && with_duckdb=true
[[ -x /usr/bin/time ]] || { echo "error: /usr/bin/time is needed (apt-get install time)" >&2; exit 2; }

cargo build --release -p loglake >&2
bin="$CARGO_TARGET_DIR/release/loglake"

gen_once() { # dir files lines
  if [[ ! -f "$1/.done" ]]; then
    rm -rf "$1"
    "$bin" gen --out "$1" --files "$2" --lines "$3" --seed 42 --gzip --hours 72 >/dev/null
    touch "$1/.done"
  fi
}

measure() { # label input
  local label=$1 input=$2 out="$BENCH_DIR/out-$1"
  rm -rf "$out"
  /usr/bin/time -v -o "$BENCH_DIR/time-$label.txt" \
    "$bin" transform --input "$input" --output "$out" --quiet >"$BENCH_DIR/summary-$label.jsonl" || true
  python3 - "$label" "$BENCH_DIR/summary-$label.jsonl" "$BENCH_DIR/time-$label.txt" <<'PY'
import json, re, sys
label, summ, timef = sys.argv[1:]
rows = [json.loads(l) for l in open(summ)]
t = open(timef).read()
wall = t.split("Elapsed (wall clock) time (h:mm:ss or m:ss):")[1].split()[0].split(":")
secs = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
decoded = sum(r.get("bytes_decoded", 0) for r in rows)
comp = sum(r.get("bytes_in", 0) for r in rows)
rin = sum(r.get("records_in", 0) for r in rows)
wr = sum(r.get("records_written", 0) for r in rows)
q = sum(r.get("records_quarantined", 0) for r in rows)
assert rin == wr + q, "conservation violated"
print(f"{label}: {len(rows)} files, {decoded/1e6:.0f} MB uncompressed ({comp/1e6:.0f} MB gzip), "
      f"{rin} rows ({q} quarantined) in {secs:.2f} s -> {decoded/1e6/secs:.0f} MB/s, "
      f"{rin/secs/1e6:.2f} M rows/s, peak RSS {rss/1024:.0f} MiB")
PY
}

gen_once "$BENCH_DIR/raw64" 64 "$LINES_PER_FILE"
measure "64-files" "$BENCH_DIR/raw64"
gen_once "$BENCH_DIR/raw1" 1 $((64 * LINES_PER_FILE))
measure "1-file-72-partitions" "$BENCH_DIR/raw1"

if $with_duckdb; then
  venv="$BENCH_DIR/.venv-bench"
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'duckdb==1.*'
  rm -rf "$BENCH_DIR/out-duckdb"
  /usr/bin/time -v -o "$BENCH_DIR/time-duckdb.txt" "$venv/bin/python" - "$BENCH_DIR" <<'PY'
import duckdb, sys
d = sys.argv[1]
con = duckdb.connect()
# DuckDB cannot infer one structure from messy logs, so it is given the columns: a fair,
# typical DuckDB transform (lenient casts, bad lines skipped rather than quarantined).
cols = {c: "VARCHAR" for c in ["timestamp", "@timestamp", "time", "ts", "level", "service", "host",
        "message", "trace_id", "user_id", "method", "path", "status", "latency_ms", "bytes", "success"]}
con.execute(f"""
COPY (
  SELECT upper(level) AS level, service, host, message, trace_id, user_id, method, path,
         TRY_CAST(status AS INTEGER) AS status, TRY_CAST(latency_ms AS DOUBLE) AS latency_ms,
         TRY_CAST(bytes AS BIGINT) AS bytes, TRY_CAST(success AS BOOLEAN) AS success, event_ts,
         strftime(event_ts, '%Y-%m-%d') AS dt, strftime(event_ts, '%H') AS hr
  FROM (
    SELECT *, COALESCE(TRY_CAST("timestamp" AS TIMESTAMPTZ), TRY_CAST("@timestamp" AS TIMESTAMPTZ),
                       TRY_CAST("time" AS TIMESTAMPTZ), to_timestamp(TRY_CAST(ts AS BIGINT))) AS event_ts
    FROM read_json('{d}/raw64/*.ndjson.gz', format = 'newline_delimited', ignore_errors = true,
                   columns = {cols})
  ) WHERE event_ts IS NOT NULL
) TO '{d}/out-duckdb' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (dt, hr))
""")

PY
  python3 - "$BENCH_DIR/time-duckdb.txt" "$BENCH_DIR/summary-64-files.jsonl" <<'PY'
import json, re, sys
t = open(sys.argv[1]).read()
wall = t.split("Elapsed (wall clock) time (h:mm:ss or m:ss):")[1].split()[0].split(":")
secs = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
decoded = sum(json.loads(l).get("bytes_decoded", 0) for l in open(sys.argv[2]))
print(f"duckdb (same 64 files, lenient casts, no quarantine): {secs:.2f} s -> {decoded/1e6/secs:.0f} MB/s, peak RSS {rss/1024:.0f} MiB")
PY
fi
