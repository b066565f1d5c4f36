# Shared setup for the test scripts (sourced, not run). Each function is idempotent.

# ensure_venv: the Python venv with requirements-test.txt installed; sets $venv. pip runs only
# when the requirements changed since the last install (or the venv is new).
ensure_venv() {
  venv="${LOGLAKE_VENV:-/var/tmp/loglake-venv}"
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  local want have
  want=$(sha256sum requirements-test.txt | cut -d' ' -f1)
  have=$(cat "$venv/.loglake-requirements" 2>/dev/null || true)
  if [[ "$want" != "$have" ]]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r requirements-test.txt
    echo "$want" >"$venv/.loglake-requirements"
  fi
}

# tf_cli_config: finds the machine's hashicorp/aws filesystem mirror, writes a Terraform CLI
# config that installs only from it, and exports TF_CLI_CONFIG_FILE.
tf_cli_config() {
  local bin="" dir mirror
  for dir in "${LOGLAKE_TF_MIRROR:-}" /opt /usr/share/terraform /usr/local/share/terraform "$HOME/.terraform.d"; do
    [[ -n "$dir" && -d "$dir" ]] || continue
    bin=$(find "$dir" -name 'terraform-provider-aws_*' -path '*registry.terraform.io*' 2>/dev/null | head -n1)
    [[ -n "$bin" ]] && break
  done
  [[ -n "$bin" ]] || bin=$(find / -xdev -name 'terraform-provider-aws_*' -path '*registry.terraform.io*' 2>/dev/null | head -n1)
  [[ -n "$bin" ]] || { echo "error: no hashicorp/aws provider mirror found (looked for terraform-provider-aws_*)" >&2; return 2; }
  mirror="${bin%%/registry.terraform.io/*}"
  export TF_CLI_CONFIG_FILE="${LOGLAKE_TF_CLI_CONFIG:-/var/tmp/loglake-terraform.tfrc}"
  # Written aside and renamed: the Terraform checks and the e2e run may call this while the
  # other's terraform is reading the file.
  local tmp="$TF_CLI_CONFIG_FILE.$$"
  cat >"$tmp" <<CFG
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
  mv -f "$tmp" "$TF_CLI_CONFIG_FILE"
  echo "terraform provider mirror: $mirror" >&2
}

# start_moto: a moto server on a free loopback port for the Rust tests; exports LOGLAKE_MOTO_URL
# and sets $moto_pid (stop it with stop_moto). Never listens beyond 127.0.0.1. Requests are
# handled one at a time (scripts/moto-server.py), as atomically as AWS applies them.
start_moto() {
  local port
  port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  MOTO_IAM_LOAD_MANAGED_POLICIES=true "$venv/bin/python" scripts/moto-server.py -H 127.0.0.1 -p "$port" \
    >"${LOGLAKE_MOTO_LOG:-/tmp/loglake-tests-moto.log}" 2>&1 &
  moto_pid=$!
  export LOGLAKE_MOTO_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    curl -fsS "$LOGLAKE_MOTO_URL/moto-api/" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "error: moto did not start (log: ${LOGLAKE_MOTO_LOG:-/tmp/loglake-tests-moto.log})" >&2
  return 1
}

stop_moto() {
  [[ -n "${moto_pid:-}" ]] || return 0
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  moto_pid=""
}

# The Glue job's `loglake` as a host debug build: the CLI without its `local` feature (no
# DataFusion, SQLite or inotify), as scripts/package.sh builds the release artifact. Cargo puts
# every `loglake` build at debug/loglake, so this one is copied to glue-debug/loglake, and the
# full CLI must be built after it (scripts/test.sh, scripts/e2e.sh do).
glue_debug_bin="${CARGO_TARGET_DIR:-/var/tmp/loglake-target}/glue-debug/loglake"
build_glue_debug() {
  cargo build --locked -p loglake --no-default-features --bin loglake >&2
  mkdir -p "$(dirname "$glue_debug_bin")"
  cp "$CARGO_TARGET_DIR/debug/loglake" "$glue_debug_bin"
}
