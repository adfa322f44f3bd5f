#!/usr/bin/env bash
# Static checks of terraform/: formatting, an offline schema check against the AWS
# provider (tfcheck, when ../shared/tools is present), checkov with no failed check, and
# the rollback alarms of terraform/ and template.yaml parsed (tests/checks/alarm_scan.py).
# Usage: tests/checks/terraform.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
failed=()
ran=()

echo "== terraform fmt"
if ! command -v terraform >/dev/null; then
  echo "terraform not found (>= 1.9 needed)" >&2
  failed+=("fmt")
else
  ran+=("fmt")
  terraform fmt -check -recursive -diff terraform || failed+=("fmt")
fi

echo "== tfcheck"
tfcheck="$repo/../shared/tools/tfcheck/tfcheck"
if [[ -x "$tfcheck" ]]; then
  ran+=("tfcheck")
  "$tfcheck" terraform || failed+=("tfcheck")
else
  echo "tfcheck skipped: $tfcheck not found"
fi

echo "== checkov"
bin="$(bash "$repo/tests/tools.sh")"
# --quiet prints failed checks only; the exit status is non-zero on any of them.
# Skips are allowed only inline (#checkov:skip=ID:reason) next to the resource.
ran+=("checkov")
"$bin/checkov" -d terraform --skip-download --quiet --compact || failed+=("checkov")

echo "== rollback alarms"
ran+=("alarms")
"$bin/python" tests/checks/alarm_scan.py || failed+=("alarms")

if ((${#failed[@]})); then
  echo "terraform checks: FAILED (${failed[*]})"
  exit 1
fi
echo "terraform checks: OK (${ran[*]})"
