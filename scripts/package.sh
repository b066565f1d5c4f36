#!/usr/bin/env bash
# Builds the deployable artifacts into build/ (DESIGN.md §5, §6):
#   build/trigger_glue.zip   the trigger Lambda: an executable `bootstrap` for provided.al2023
#   build/loglake            the CLI without its `local` feature (transform, glue-task, event,
#                            trigger, backfill), shipped to the Glue job's workers with --extra-files
# Both are built with cargo-zigbuild for glibc 2.17, so they run on Amazon Linux 2023 (and any
# newer glibc), and link no OpenSSL (TLS is rustls). Tools come prebuilt from PyPI (pinned in
# requirements-package.txt) into a venv; nothing else is downloaded.
#
# Usage: scripts/package.sh [trigger|glue|all]   (default: all)
# Env:   LOGLAKE_ARCH=x86_64|arm64: the Lambda's architecture (default x86_64; arm64 needs the
#          aarch64 Rust std installed). The Glue binary is always x86_64: Glue workers are.
#        LOGLAKE_PACKAGE_PLAN=1: print what would be built (artifact, package, target) and stop.
#        CARGO_TARGET_DIR (default /var/tmp/loglake-target), LOGLAKE_PKG_VENV
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-all}"
case "$what" in trigger|glue|all) ;; *) echo "usage: scripts/package.sh [trigger|glue|all]" >&2; exit 2 ;; esac

arch="${LOGLAKE_ARCH:-x86_64}"
case "$arch" in
  x86_64) lambda_triple=x86_64-unknown-linux-gnu ;;
  arm64)  lambda_triple=aarch64-unknown-linux-gnu ;;
  *) echo "error: LOGLAKE_ARCH=$arch is not x86_64 or arm64" >&2; exit 2 ;;
esac
# Glue workers are x86_64 whatever the Lambda runs on.
glue_triple=x86_64-unknown-linux-gnu
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/loglake-target}"
venv="${LOGLAKE_PKG_VENV:-/var/tmp/loglake-pkg-venv}"
max_glibc="2.17"       # what the binaries may need; Amazon Linux 2023 has 2.34
max_bootstrap_mb=15    # issue 4's size budget for the Lambda binary

if [[ "${LOGLAKE_PACKAGE_PLAN:-}" == 1 ]]; then
  [[ "$what" == glue ]] || echo "build/trigger_glue.zip loglake-lambda $lambda_triple.$max_glibc"
  [[ "$what" == trigger ]] || echo "build/loglake loglake $glue_triple.$max_glibc"
  exit 0
fi

# The tools, idempotently: pip runs only when requirements-package.txt changed.
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
want=$(sha256sum requirements-package.txt | cut -d' ' -f1)
if [[ "$want" != "$(cat "$venv/.loglake-requirements" 2>/dev/null || true)" ]]; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r requirements-package.txt
  echo "$want" >"$venv/.loglake-requirements"
fi
export PATH="$venv/bin:$PATH"

mkdir -p build

# Highest GLIBC_x.y symbol version a binary needs (2.17 and below run on Amazon Linux 2023).
check_glibc() {
  local bin=$1 need
  need=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n1)
  if [[ "$(printf '%s\n%s\n' "$need" "$max_glibc" | sort -V | tail -n1)" != "$max_glibc" ]]; then
    echo "error: $bin needs GLIBC_$need, more than $max_glibc" >&2
    return 1
  fi
  if objdump -p "$bin" | grep -E 'NEEDED.*(libssl|libcrypto)' >&2; then
    echo "error: $bin links OpenSSL" >&2
    return 1
  fi
  echo "$bin: needs GLIBC_$need at most; $(objdump -p "$bin" | awk '/NEEDED/ {printf "%s ", $2}')" >&2
}

build() { # build <package> <binary> <profile> <triple> [cargo args]: prints the binary's path
  local package=$1 bin=$2 profile=$3 triple=$4
  shift 4
  echo "building $package ($bin, profile $profile $*) for $triple with glibc $max_glibc ..." >&2
  cargo zigbuild --locked --profile "$profile" -p "$package" --bin "$bin" \
    --target "$triple.$max_glibc" "$@" >&2
  echo "$CARGO_TARGET_DIR/$triple/$profile/$bin"
}

if [[ "$what" == trigger || "$what" == all ]]; then
  bin=$(build loglake-lambda bootstrap dist "$lambda_triple")
  check_glibc "$bin"
  size=$(stat -c %s "$bin")
  echo "bootstrap: $((size / 1024 / 1024)) MiB ($size bytes)" >&2
  if ((size > max_bootstrap_mb * 1024 * 1024)); then
    echo "error: bootstrap is over ${max_bootstrap_mb} MiB" >&2
    exit 1
  fi
  # One executable `bootstrap`, fixed timestamp: the same binary gives the same zip.
  python3 scripts/zip_bootstrap.py "$bin" build/trigger_glue.zip
  echo "wrote build/trigger_glue.zip ($(stat -c %s build/trigger_glue.zip) bytes)" >&2
fi

if [[ "$what" == glue || "$what" == all ]]; then
  # Without the `local` feature: the Glue task needs no DataFusion, SQLite or inotify.
  bin=$(build loglake loglake dist-glue "$glue_triple" --no-default-features)
  check_glibc "$bin"
  install -m 0755 "$bin" build/loglake
  echo "wrote build/loglake ($(stat -c %s build/loglake) bytes)" >&2
fi
