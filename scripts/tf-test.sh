#!/usr/bin/env bash
# Terraform checks, offline: fmt, validate, `terraform test` (mock provider, plan/apply-level
# assertions), checkov. Called by scripts/test.sh; runnable on its own.
#
# The hashicorp/aws provider comes from the machine's filesystem mirror: this script finds it,
# writes a CLI config that installs only from there, and exports TF_CLI_CONFIG_FILE.
set -euo pipefail
cd "$(dirname "$0")/.."

find_mirror() {
  local bin
  for dir in "${LOGLAKE_TF_MIRROR:-}" /opt /usr/share/terraform /usr/local/share/terraform "$HOME/.terraform.d"; do
    [[ -n "$dir" && -d "$dir" ]] || continue
    bin=$(find "$dir" -name 'terraform-provider-aws_*' -path '*registry.terraform.io*' 2>/dev/null | head -n1)
    [[ -n "$bin" ]] && break
  done
  [[ -n "${bin:-}" ]] || bin=$(find / -xdev -name 'terraform-provider-aws_*' -path '*registry.terraform.io*' 2>/dev/null | head -n1)
  [[ -n "${bin:-}" ]] || { echo "error: no hashicorp/aws provider mirror found (looked for terraform-provider-aws_*)" >&2; exit 2; }
  echo "${bin%%/registry.terraform.io/*}"
}

mirror=$(find_mirror)
export TF_CLI_CONFIG_FILE="${LOGLAKE_TF_CLI_CONFIG:-/var/tmp/loglake-terraform.tfrc}"
cat >"$TF_CLI_CONFIG_FILE" <<CFG
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
CFG
export TF_IN_AUTOMATION=1
export TF_CLI_ARGS="-no-color"
export TF_DATA_DIR="${LOGLAKE_TF_DATA_DIR:-/var/tmp/loglake-tfdata}"

echo "== terraform fmt -check" >&2
terraform fmt -check -recursive -diff infra

echo "== terraform init (filesystem mirror: $mirror)" >&2
terraform -chdir=infra init -backend=false -input=false -lockfile=readonly >/dev/null

echo "== terraform validate" >&2
terraform -chdir=infra validate

echo "== terraform test (mock provider)" >&2
terraform -chdir=infra test

if [[ "${LOGLAKE_SKIP_CHECKOV:-}" != 1 ]]; then
  echo "== checkov" >&2
  venv="${LOGLAKE_VENV:-/var/tmp/loglake-venv}"
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r requirements-test.txt
  "$venv/bin/checkov" --directory infra --framework terraform --skip-download --quiet --compact \
    --skip-path infra/tests --skip-path infra/emulator
fi
