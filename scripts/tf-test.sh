#!/usr/bin/env bash
# Terraform checks, offline: fmt, validate, `terraform test` (mock provider, plan/apply-level
# assertions), checkov. Called by scripts/test.sh; runnable on its own.
#
# The hashicorp/aws provider comes from the machine's filesystem mirror: this script finds it,
# writes a CLI config that installs only from there, and exports TF_CLI_CONFIG_FILE.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
tf_cli_config
export TF_IN_AUTOMATION=1
export TF_CLI_ARGS="-no-color"
export TF_DATA_DIR="${LOGLAKE_TF_DATA_DIR:-/var/tmp/loglake-tfdata}"

echo "== terraform fmt -check" >&2
terraform fmt -check -recursive -diff infra

echo "== terraform init" >&2
terraform -chdir=infra init -backend=false -input=false -lockfile=readonly >/dev/null

echo "== terraform validate" >&2
terraform -chdir=infra validate

echo "== terraform test (mock provider)" >&2
terraform -chdir=infra test

if [[ "${LOGLAKE_SKIP_CHECKOV:-}" != 1 ]]; then
  echo "== checkov" >&2
  ensure_venv
  "$venv/bin/checkov" --directory infra --framework terraform --skip-download --quiet --compact \
    --skip-path infra/tests --skip-path infra/emulator
fi
