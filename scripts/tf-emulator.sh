#!/usr/bin/env bash
# The real infra/ applied against a moto server on loopback: apply, then `plan
# -detailed-exitcode` must report no changes, then destroy. Emulator quirks (DESIGN.md section 7)
# are handled by the override files in infra/emulator/, copied next to a scratch copy of infra/;
# the production files are never modified.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
ensure_venv
tf_cli_config
export TF_IN_AUTOMATION=1 TF_CLI_ARGS="-no-color"

work=$(mktemp -d)
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MOTO_IAM_LOAD_MANAGED_POLICIES=true "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
cleanup() {
  cp "$work/moto.log" "${LOGLAKE_EMULATOR_LOG:-/tmp/loglake-emulator-moto.log}" 2>/dev/null || true
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break
  sleep 0.1
done

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=eu-west-1 AWS_REGION=eu-west-1

# Scratch copy: the real configuration plus the emulator overrides.
mkdir -p "$work/infra" "$work/artifacts"
cp "$root"/infra/*.tf "$root"/infra/.terraform.lock.hcl "$work/infra/"
cp "$root"/infra/emulator/*_override.tf "$work/infra/"
# Artifacts: a zip holding an executable `bootstrap` (moto only stores it), and stand-ins for the
# Glue script and binary, whose content the infrastructure does not look at.
"$venv/bin/python" - "$work/artifacts" <<'PY'
import sys, zipfile, os
d = sys.argv[1]
info = zipfile.ZipInfo("bootstrap")
info.external_attr = 0o755 << 16
with zipfile.ZipFile(os.path.join(d, "trigger_glue.zip"), "w") as z:
    z.writestr(info, "#!/bin/sh\necho emulator\n")
open(os.path.join(d, "entry.py"), "w").write("# emulator stand-in for the Glue entry script\n")
open(os.path.join(d, "loglake"), "w").write("emulator stand-in for the loglake binary\n")
PY
vars=(
  -var "region=eu-west-1"
  -var "schema_path=$root/schemas/app_logs.json"
  -var "lambda_zip_path=$work/artifacts/trigger_glue.zip"
  -var "glue_script_path=$work/artifacts/entry.py"
  -var "glue_binary_path=$work/artifacts/loglake"
  -var "alarm_email=ops@example.com"
)
export TF_DATA_DIR="$work/tfdata"
tf() { terraform -chdir="$work/infra" "$@"; }

echo "== terraform init" >&2
tf init -backend=false -input=false -lockfile=readonly >/dev/null
for mode in false true; do
  echo "== apply against moto (batching_enabled=$mode)" >&2
  tf apply -auto-approve -input=false "${vars[@]}" -var "batching_enabled=$mode" >"$work/apply.log" 2>&1 \
    || { tail -60 "$work/apply.log" >&2; exit 1; }
  echo "== plan -detailed-exitcode must show no changes" >&2
  set +e
  tf plan -detailed-exitcode -input=false "${vars[@]}" -var "batching_enabled=$mode" >"$work/plan.log" 2>&1
  code=$?
  set -e
  if [[ $code -ne 0 ]]; then
    cp "$work/plan.log" "${LOGLAKE_EMULATOR_PLAN:-/tmp/loglake-emulator-plan.log}"
    { grep -E '# .* (will|must) be|^Error|^\s+[~+-] [a-z_]+ +=' "$work/plan.log" || true; } | sed -n '1,80p' >&2
    echo "error: plan after apply is not empty (exit $code); full plan in ${LOGLAKE_EMULATOR_PLAN:-/tmp/loglake-emulator-plan.log}" >&2
    exit 1
  fi
done
# A column added to the schema file (README, "Schema changes") must change only the Glue table,
# in place (a replaced table would lose its registered partitions), and the schema object the
# job reads; nothing else in the deployment.
echo "== plan with a column added to the schema: only the table and the schema object change" >&2
"$venv/bin/python" - "$root/schemas/app_logs.json" "$work/schema-added.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["columns"].append({"name": "region", "type": "string", "comment": "added by the emulator test"})
json.dump(s, open(sys.argv[2], "w"))
PY
tf plan -input=false "${vars[@]}" -var "batching_enabled=true" -var "schema_path=$work/schema-added.json" \
  -out="$work/added.plan" >"$work/added.log" 2>&1 || { tail -40 "$work/added.log" >&2; exit 1; }
tf show -json "$work/added.plan" >"$work/added.json"
"$venv/bin/python" - "$work/added.json" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
changed = {rc["address"]: rc["change"] for rc in plan["resource_changes"]
           if rc["change"]["actions"] not in (["no-op"], ["read"])}
want = {"aws_glue_catalog_table.logs", "aws_s3_object.schema"}
if set(changed) != want:
    sys.exit(f"error: a column added to the schema changes {sorted(changed)}, expected {sorted(want)}")
table = changed["aws_glue_catalog_table.logs"]
if table["actions"] != ["update"]:
    sys.exit(f"error: the Glue table would be {table['actions']}, not updated in place")
names = [c["name"] for c in table["after"]["storage_descriptor"][0]["columns"]]
if "region" not in names:
    sys.exit(f"error: the planned table lacks the added column: {names}")
print(f"ok: adding a column updates {sorted(changed)} in place", file=sys.stderr)
PY
echo "== destroy" >&2
tf destroy -auto-approve -input=false "${vars[@]}" -var "batching_enabled=true" >"$work/destroy.log" 2>&1 \
  || { tail -40 "$work/destroy.log" >&2; exit 1; }
echo "emulator cycle ok: apply (per-object, then batching) -> no-change plans -> an added column updates only the table -> destroy" >&2
