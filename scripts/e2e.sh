#!/usr/bin/env bash
# The whole deployed system on an emulated AWS (DESIGN.md §5, §7): build the artifacts, start a
# moto server on loopback, `terraform apply` the real infra/ (with the emulator overrides), drop
# raw objects, deliver the events moto's EventBridge produced to the deployed function's
# `bootstrap`, run the Glue runs it started with the real entry script on local PySpark, check
# Parquet, catalog, quarantine, ledger and SQL results, and `terraform destroy`. The driver is
# tests/e2e/e2e.py (its docstring lists every step and check). Exits non-zero on any mismatch.
#
# Usage: scripts/e2e.sh
# Env:   LOGLAKE_E2E_ARTIFACTS=debug (default: host debug builds of `bootstrap` and `loglake`,
#          what the test suite already compiled) | package (scripts/package.sh: the glibc 2.17
#          release artifacts that are deployed to AWS; a long release build on 2 cores)
#        LOGLAKE_E2E_BUILD=0 uses the debug binaries already in CARGO_TARGET_DIR (scripts/test.sh
#          builds them first, then runs this beside the tests)
#        LOGLAKE_E2E_KEEP=1 keeps the work folder (logs, generated data, Terraform state)
#        CARGO_TARGET_DIR (default /var/tmp/loglake-target), LOGLAKE_VENV
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
started=$SECONDS

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/loglake-target}"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
ensure_venv
tf_cli_config
export TF_IN_AUTOMATION=1 TF_CLI_ARGS="-no-color"

work=$(mktemp -d /tmp/loglake-e2e.XXXXXX)
cleanup() {
  stop_moto
  if [[ "${LOGLAKE_E2E_KEEP:-}" == 1 ]]; then
    echo "e2e work folder kept: $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
mkdir -p "$work/artifacts" "$work/infra"

echo "== artifacts (${LOGLAKE_E2E_ARTIFACTS:-debug})" >&2
case "${LOGLAKE_E2E_ARTIFACTS:-debug}" in
  debug)
    # The same workspace build as the test suite's, so nothing is compiled twice.
    if [[ "${LOGLAKE_E2E_BUILD:-1}" != 0 ]]; then
      build_glue_debug
      cargo build --workspace --bins --locked >&2
    fi
    # Stripped, as scripts/package.sh strips the release artifacts: line tables make the debug
    # `loglake` 3x larger, and Terraform uploads it to the code bucket. The Glue job gets the
    # build without `local`; the driver's own commands (gen, backfill, query) use the full CLI.
    strip -o "$work/artifacts/bootstrap" "$CARGO_TARGET_DIR/debug/bootstrap"
    strip -o "$work/artifacts/loglake" "$glue_debug_bin"
    loglake="$work/artifacts/loglake"
    cli="$CARGO_TARGET_DIR/debug/loglake"
    zip="$work/artifacts/trigger_glue.zip"
    python3 scripts/zip_bootstrap.py "$work/artifacts/bootstrap" "$zip"
    ;;
  package)
    scripts/package.sh
    zip="$root/build/trigger_glue.zip"
    loglake="$root/build/loglake"
    cargo build --workspace --bins --locked >&2
    cli="$CARGO_TARGET_DIR/debug/loglake"
    ;;
  *) echo "error: LOGLAKE_E2E_ARTIFACTS must be debug or package" >&2; exit 2 ;;
esac
echo "trigger zip: $zip ($(stat -c %s "$zip") bytes); glue binary: $loglake ($(stat -c %s "$loglake") bytes)" >&2

echo "== moto server" >&2
export LOGLAKE_MOTO_LOG="$work/moto.log"
start_moto
export AWS_ENDPOINT_URL="$LOGLAKE_MOTO_URL"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=eu-west-1 AWS_DEFAULT_REGION=eu-west-1
echo "moto: $AWS_ENDPOINT_URL (log: $LOGLAKE_MOTO_LOG)" >&2

# Scratch copy: the real configuration, the emulator overrides, and the e2e wiring (the Lambda
# targets deliver to an SQS inbox the driver reads). The production files are not modified.
cp "$root"/infra/*.tf "$root"/infra/.terraform.lock.hcl "$work/infra/"
cp "$root"/infra/emulator/*_override.tf "$root"/infra/emulator/e2e/*.tf "$work/infra/"
cat >"$work/e2e.tfvars.json" <<JSON
{
  "region": "$AWS_REGION",
  "schema_path": "$root/schemas/app_logs.json",
  "lambda_zip_path": "$zip",
  "glue_script_path": "$root/glue/loglake_glue_job.py",
  "glue_binary_path": "$loglake",
  "alarm_email": "ops@example.com",
  "batch_size": 2,
  "batch_window_seconds": 0,
  "compaction_min_files": 2
}
JSON
export TF_DATA_DIR="$work/tfdata"
echo "== terraform init" >&2
terraform -chdir="$work/infra" init -backend=false -input=false -lockfile=readonly >/dev/null

# The driver's report goes to report.json; its log (minus Spark's start-up chatter) to stderr.
# A pipeline, not a process substitution, so the log is complete before the report is shown.
status=0
PYSPARK_PYTHON="$venv/bin/python" "$venv/bin/python" tests/e2e/e2e.py \
  --infra "$work/infra" --var-file "$work/e2e.tfvars.json" --zip "$zip" --bin "$cli" \
  --schema "$root/schemas/app_logs.json" --work "$work" 2>&1 >"$work/report.json" \
  | { grep -v -E '^(WARNING|Setting default log level|To adjust logging level|[0-9/]+ [0-9:]+ WARN )' || true; } >&2 \
  || status=$?
if [[ $status -ne 0 ]]; then
  echo "error: e2e failed (exit $status); logs in $work/logs, moto log $LOGLAKE_MOTO_LOG" >&2
  LOGLAKE_E2E_KEEP=1
  exit "$status"
fi
cat "$work/report.json"
echo "e2e passed in $((SECONDS - started)) s" >&2
