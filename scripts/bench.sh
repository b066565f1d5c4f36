#!/usr/bin/env bash
# Benchmark of `loglake transform` (DESIGN.md §8; not a timed test): README "Performance".
#
#   scripts/bench.sh [--rounds N] [--only own|applogs] [--no-s3]
#
# Builds the release binary, then (scripts/bench.py) on two data sets of ~1 GB uncompressed gzip
# NDJSON, 64 files over 3 days each (`loglake gen`, seed 42; scripts/applog_gen.py, seed 7):
# bare decompression, then loglake and DuckDB alternating; the first set again as one file over 72
# partitions; and the S3 path (s3:// -> s3:// against moto on loopback) against local -> local.
# Data is generated once under $BENCH_DIR (default /var/tmp/loglake-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/loglake-target}"
BENCH_DIR="${BENCH_DIR:-/var/tmp/loglake-bench}"
s3=true args=()
for a in "$@"; do
  if [[ "$a" == "--no-s3" ]]; then s3=false; else args+=("$a"); fi
done

cargo build --release -p loglake >&2
ensure_venv
if $s3; then
  export LOGLAKE_MOTO_LOG=/tmp/loglake-bench-moto.log
  start_moto
  trap stop_moto EXIT
  args+=(--s3 "$LOGLAKE_MOTO_URL" --moto-pid "$moto_pid")
fi
"$venv/bin/python" scripts/bench.py --bin "$CARGO_TARGET_DIR/release/loglake" --dir "$BENCH_DIR" \
  --duckdb "${args[@]}"
