#!/usr/bin/env bash
# The S3 path against the local-file path (issue 5's target: S3 within 70% of local), with the
# release `loglake` binary against a moto server on loopback: the same generated file transformed
# local -> local and s3:// -> s3://, best of 3 each. Reports MB/s of uncompressed input.
# Usage: scripts/bench-s3.sh [BINARY]   (default: build/loglake from scripts/package.sh glue)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_venv
bin="${1:-build/loglake}"
[[ -x "$bin" ]] || { echo "error: $bin not found; run scripts/package.sh glue" >&2; exit 2; }
data="${LOGLAKE_BENCH_DIR:-/var/tmp/loglake-bench-s3}"
mkdir -p "$data"
[[ -f "$data/raw/app-0000.ndjson" ]] || "$bin" gen --out "$data/raw" --files 1 --lines 400000 --seed 5 >/dev/null
file="$data/raw/app-0000.ndjson"
mb=$(( $(stat -c %s "$file") / 1000000 ))
export LOGLAKE_MOTO_LOG=/tmp/loglake-bench-s3-moto.log
start_moto
trap stop_moto EXIT
export AWS_ENDPOINT_URL="$LOGLAKE_MOTO_URL" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
"$venv/bin/python" - "$file" <<'PY'
import boto3, sys
s3 = boto3.client("s3")
for b in ("bench-raw", "bench-clean"):
    s3.create_bucket(Bucket=b)
s3.upload_file(sys.argv[1], "bench-raw", "logs/app-0000.ndjson")
PY
best() { # best wall seconds of 3 runs of "$@"
  local b=999 t0 t
  for _ in 1 2 3; do
    t0=$(date +%s.%N); "$@" >/dev/null || [[ $? -eq 1 ]]; t=$(echo "$(date +%s.%N) - $t0" | bc)
    b=$(echo "if ($t < $b) $t else $b" | bc)
  done
  echo "$b"
}
local_s=$(best "$bin" transform --quiet --jobs 1 --input "$file" --source bench-raw/logs/app-0000.ndjson --output "$data/out")
s3_s=$(best "$bin" transform --quiet --jobs 1 --input s3://bench-raw/logs/app-0000.ndjson --output s3://bench-clean/out)
echo "{\"input_mb\": $mb, \"local_s\": $local_s, \"s3_s\": $s3_s, \"local_mb_s\": $(echo "scale=1; $mb / $local_s" | bc), \"s3_mb_s\": $(echo "scale=1; $mb / $s3_s" | bc), \"s3_vs_local\": $(echo "scale=2; $local_s / $s3_s" | bc)}"
