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

# Variables that would weaken the suite have no say here: goldens are compared, not rewritten;
# checkov runs; Python keeps its checks; the fuzz smoke runs its full count.
unset UPDATE_GOLDEN LOGLAKE_SKIP_CHECKOV PYTHONOPTIMIZE LOGLAKE_FUZZ_CASES

step "rustfmt"
cargo fmt --all -- --check

step "python venv (pinned requirements-test.txt)"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
ensure_venv
export LOGLAKE_VENV="$venv"
work="$(mktemp -d)"
tf_pid=""
e2e_pid=""
cleanup() {
  stop_moto
  for pid in "$tf_pid" "$e2e_pid"; do
    if [[ -n "$pid" ]]; then kill -- "-$pid" 2>/dev/null || true; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

# The Terraform checks hardly use the CPU (terraform, moto and checkov wait on each other), so
# they run in the background while Rust builds; their log is shown when they finish.
step "terraform checks started in the background (log: $work/terraform.log)"
# Its own session (setsid), so a failure elsewhere can stop it with everything it started.
setsid bash -c '
  set -e
  echo "== terraform: fmt, validate, terraform test (mock provider), checkov, README tables"
  scripts/tf-test.sh
  python3 scripts/tf-docs.py --check
  echo "== terraform: apply -> no-change plan -> destroy against a moto server"
  scripts/tf-emulator.sh
' >"$work/terraform.log" 2>&1 &
tf_pid=$!

step "packaging plan: the Lambda follows LOGLAKE_ARCH, the Glue binary stays x86_64"
plan=$(LOGLAKE_ARCH=arm64 LOGLAKE_PACKAGE_PLAN=1 scripts/package.sh all)
if ! grep -qx "build/trigger_glue.zip loglake-lambda aarch64-unknown-linux-gnu.2.17" <<<"$plan" \
  || ! grep -qx "build/loglake loglake x86_64-unknown-linux-gnu.2.17" <<<"$plan"; then
  printf 'error: unexpected packaging plan for LOGLAKE_ARCH=arm64:\n%s\n' "$plan" >&2
  exit 1
fi

step "clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "binaries (the end-to-end run deploys them): the Glue artifact without \`local\`, then all"
build_glue_debug
cargo build --workspace --bins --locked

# The end-to-end run on an emulated AWS (scripts/e2e.sh) spends most of its time in Terraform
# waiting on moto, so it runs beside the tests, with its own moto server; its own build step is
# skipped (the binaries were just built, and a second cargo would wait for the tests' lock).
step "end to end on an emulated AWS started in the background (log: $work/e2e.log)"
setsid env LOGLAKE_E2E_BUILD=0 scripts/e2e.sh >"$work/e2e.log" 2>&1 &
e2e_pid=$!

step "tests, with a moto server for the S3 paths"
start_moto
echo "moto for the tests: $LOGLAKE_MOTO_URL" >&2
# Tests that need moto fail instead of skipping when it is required.
LOGLAKE_REQUIRE_MOTO=1 cargo test --workspace --locked

# py_test TITLE SCRIPT: one Python test against the tests' moto and the debug binary; its stderr
# goes to a log, shown (the end of it) only when it fails.
py_test() {
  step "$1"
  local log="$work/$(basename "$2" .py).log"
  LOGLAKE_BIN="$CARGO_TARGET_DIR/debug/loglake" LOGLAKE_GLUE_BIN="$glue_debug_bin" \
    PYSPARK_PYTHON="$venv/bin/python" \
    "$venv/bin/python" "$2" 2>"$log" || { tail -n 80 "$log" >&2; exit 1; }
}
py_test "Glue entry script on local PySpark against moto (glue/loglake_glue_job.py)" \
  tests/glue/test_glue_job.py
py_test "Glue entry script as Glue 5.0 runs it: its own process, Glue's argv, awsglue, eu-west-1" \
  tests/glue/test_glue_as_glue.py
py_test "faults at the process boundary: transform and run on S3 through the fault proxy" \
  tests/faults/test_s3_faults.py
py_test "kill -9 of transform and of run (S3) at every write of the publish order, then a rerun" \
  tests/faults/test_crash.py
py_test "seeded soak: 200 objects through run on S3 stores, every fault kind at 3%" \
  tests/faults/soak.py
py_test "the trigger under DynamoDB and Glue faults, lost claim responses" \
  tests/faults/test_trigger_faults.py
py_test "a full disk under transform (a 300 KiB tmpfs), then a rerun with room" \
  tests/faults/test_disk_full.py
stop_moto

step "python readers (pyarrow, DuckDB) read the output with Hive partitioning"
readers_dir="$work/readers"
bin="$CARGO_TARGET_DIR/debug/loglake"
mkdir -p "$readers_dir"
"$bin" gen --out "$readers_dir/raw" --files 3 --lines 5000 --seed 3 --gzip >"$readers_dir/gen.json"
# Exit code 1 is expected: the generated data has bad lines, which are quarantined.
"$bin" transform --input "$readers_dir/raw" --output "$readers_dir/out" --quiet \
  >/dev/null || [[ $? -eq 1 ]]
# Rows are checked against the generator's own report, not the transform's summaries.
"$venv/bin/python" tests/readers/check_readers.py "$readers_dir/out" app_logs "$readers_dir/gen.json"

step "decoder fuzz smoke (random and mutated inputs through decode + normalise)"
LOGLAKE_FUZZ_CASES=50000 \
  cargo test --workspace --locked --test fuzz -- --ignored --nocapture

step "end to end (background) result"
e2e_status=0
wait "$e2e_pid" || e2e_status=$?
e2e_pid=""
if [[ $e2e_status -ne 0 ]]; then
  cat "$work/e2e.log" >&2
  echo "error: the end-to-end run failed (exit $e2e_status); its log is above" >&2
  exit "$e2e_status"
fi
# On success: the steps and the report (the JSON object at the end), not each check and run.
awk '/^\{$/ {p = 1} p || /^== |^e2e /' "$work/e2e.log" >&2

step "terraform checks (background) result"
tf_status=0
wait "$tf_pid" || tf_status=$?
tf_pid=""
cat "$work/terraform.log" >&2
if [[ $tf_status -ne 0 ]]; then
  echo "error: the Terraform checks failed (exit $tf_status); their log is above" >&2
  exit "$tf_status"
fi
echo "all checks passed" >&2
