#!/usr/bin/env bash
# Trigger Lambda benchmarks (issue 4's targets): the handler's own cost per event with in-memory
# fakes (release build), and the packaged `bootstrap` against a moto server through a local
# Lambda Runtime API (init time, latency per event, AWS calls per object). Builds the package
# first when build/trigger_glue.zip is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/loglake-target}"
ensure_venv

echo "== handler overhead (in-memory fakes, release)" >&2
cargo test --locked --release -p loglake-trigger --test handler -- --ignored --nocapture handler_overhead 2>&1 \
  | grep -E '^(overhead|test result)' >&2

[[ -f build/trigger_glue.zip ]] || scripts/package.sh trigger
bootstrap="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/dist/bootstrap"
export LOGLAKE_MOTO_LOG="${LOGLAKE_MOTO_LOG:-/tmp/loglake-bench-moto.log}"
start_moto
trap stop_moto EXIT
echo "== bootstrap against moto" >&2
"$venv/bin/python" scripts/bench-trigger.py "$bootstrap" --moto-url "$LOGLAKE_MOTO_URL" \
  --moto-log "$LOGLAKE_MOTO_LOG" --objects "${LOGLAKE_BENCH_OBJECTS:-200}"
