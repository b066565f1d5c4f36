#!/usr/bin/env bash
# The full test suite: the one command README.md gives and .ci/run calls.
#
# Installs what it needs (idempotently), then runs formatting, lint, every test, and a short
# fuzz-style run of the decoder. Safe to run from a fresh clone and with an empty build cache.
set -euo pipefail
cd "$(dirname "$0")/.."

# One build cache outside the clone, reused between runs (CI clones afresh every time).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/loglake-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# The published fixtures live beside the repository (../shared/fixtures); tests fail loudly
# when they are missing. Override with LOGLAKE_FIXTURES.
export LOGLAKE_FIXTURES="${LOGLAKE_FIXTURES:-$(cd .. && pwd)/shared/fixtures}"

step() { printf '\n== %s\n' "$*" >&2; }

step "rustfmt"
cargo fmt --all -- --check

step "clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "python venv (pinned requirements-test.txt) and a moto server for the tests"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
ensure_venv
export LOGLAKE_VENV="$venv"
readers_dir="$(mktemp -d)"
trap 'stop_moto; rm -rf "$readers_dir"' EXIT
start_moto

step "tests (S3 paths against moto at $LOGLAKE_MOTO_URL)"
# Tests that need moto fail instead of skipping when it is required.
LOGLAKE_REQUIRE_MOTO=1 cargo test --workspace --locked
stop_moto

step "python readers (pyarrow, DuckDB) read the output with Hive partitioning"
bin="$CARGO_TARGET_DIR/debug/loglake"
"$bin" gen --out "$readers_dir/raw" --files 3 --lines 5000 --seed 3 --gzip >/dev/null
# Exit code 1 is expected: the generated data has bad lines, which are quarantined.
"$bin" transform --input "$readers_dir/raw" --output "$readers_dir/out" --quiet \
  >"$readers_dir/summaries.jsonl" || [[ $? -eq 1 ]]
"$venv/bin/python" tests/readers/check_readers.py "$readers_dir/out" app_logs "$readers_dir/summaries.jsonl"

step "terraform: fmt, validate, terraform test (mock provider), checkov, README tables"
scripts/tf-test.sh
python3 scripts/tf-docs.py --check

step "terraform: apply -> no-change plan -> destroy against a moto server"
scripts/tf-emulator.sh

step "decoder fuzz smoke (random and mutated inputs through decode + normalise)"
LOGLAKE_FUZZ_CASES="${LOGLAKE_FUZZ_CASES:-50000}" \
  cargo test --workspace --locked --test fuzz -- --ignored --nocapture
