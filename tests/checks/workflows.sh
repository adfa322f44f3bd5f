#!/usr/bin/env bash
# Checks the deploy scripts and the GitHub workflows, in this order:
# - ShellCheck on every bash script in deploy/, tests/ and .ci/ (by .sh suffix or bash shebang);
# - actionlint on .github/workflows, with ShellCheck on the run: blocks;
# - zizmor --offline on .github (workflows and dependabot.yml, security audit): any finding fails;
# - tests/deploy/run.sh: the deploy scripts against fake aws, docker and cargo.
# Runs every check, then prints one summary line; exits 1 if any check failed.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
bin="$(bash tests/tools.sh)"

scripts() {
  local dir file
  for dir in deploy tests .ci; do
    [[ -d "$dir" ]] || continue
    while IFS= read -r -d '' file; do
      if [[ "$file" == *.sh ]] || head -n 1 "$file" | grep -qE '^#!(/usr/bin/env |/bin/|/usr/bin/)bash'; then
        printf '%s\n' "$file"
      fi
    done < <(find "$dir" \( -name target -o -name .terraform -o -name node_modules \) -prune \
      -o -type f -print0 | sort -z)
  done
}

failed=()
check() {
  local name="$1"
  shift
  printf '== %s\n' "$name"
  "$@" || failed+=("$name")
}

mapfile -t shell_files < <(scripts)
check "shellcheck (${#shell_files[@]} scripts)" "$bin/shellcheck" --external-sources "${shell_files[@]}"
check actionlint "$bin/actionlint" -shellcheck "$bin/shellcheck"
check zizmor "$bin/zizmor" --offline --quiet .github
check "deploy script tests" bash tests/deploy/run.sh

if ((${#failed[@]} > 0)); then
  printf 'workflows: FAILED: %s\n' "$(
    IFS=,
    printf '%s' "${failed[*]}"
  )"
  exit 1
fi
echo "workflows: shellcheck, actionlint, zizmor and deploy script tests passed"
