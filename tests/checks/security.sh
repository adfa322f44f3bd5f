#!/usr/bin/env bash
# Secure-by-default properties of terraform/, template.yaml and the Dockerfile that checkov
# does not state the way we mean them (terraform.sh and iac.sh run checkov and hadolint):
# - no IAM policy statement grants a wildcard action ("*" or "service:*");
# - every ECS container runs as a non-root user with a read-only root filesystem, and the
#   image's last USER is not root;
# - Lambda function URLs default to AWS_IAM (terraform module, example, SAM parameter), and NONE
#   needs an explicit opt-in (allow_public_url / AllowPublicUrl, default false);
# - the ALB: HTTPS unless allow_insecure_http (default false) waives it, WAF on by default;
# - the GitHub OIDC trust matches sub and aud with StringEquals, never StringLike;
# - every log group has a retention, and no retention defaults to 0 (never expire);
# - with policy_scan.py (HCL and YAML parsed): Resource "*" only for actions without a
#   resource type, tasks reachable from the ALB only, no secret in state or environment.
# Runs every check, prints each finding, then one summary line; exits 1 on any finding.
# Usage: tests/checks/security.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

failed=()
passed=0
finding() { printf '  %s\n' "$*" >&2; }
check() {
  local name="$1"
  shift
  printf -- '--- %s\n' "$name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed+=("$name")
  fi
}

mapfile -t tf_files < <(find terraform -name .terraform -prune -o -name '*.tf' -print | sort)

# Items of every `actions = [...]` / `not_actions = [...]` list (one or many lines), and SAM
# `Action:` values, printed as file:line: item.
iam_actions() {
  awk '
    /^[[:space:]]*(not_)?actions[[:space:]]*=[[:space:]]*\[/ { inside = 1 }
    inside { print FILENAME ":" FNR ": " $0 }
    inside && /\]/ { inside = 0 }
  ' "${tf_files[@]}"
  grep -nHE '^[[:space:]]*-?[[:space:]]*(Action|NotAction):' template.yaml || true
}

no_wildcard_actions() {
  local hits
  hits="$(iam_actions | grep -E '"[^"]*\*[^"]*"|Action:[^#]*\*' || true)"
  [[ -z "$hits" ]] && return 0
  while IFS= read -r line; do finding "wildcard IAM action: $line"; done <<<"$hits"
  return 1
}

# Every container definition in the ECS task: `essential` opens each one.
containers_non_root_read_only() {
  local file=terraform/modules/ecs-service/main.tf ok=0 containers users read_only root
  containers="$(grep -cE '^[[:space:]]*essential[[:space:]]*=' "$file" || true)"
  users="$(grep -cE '^[[:space:]]*user[[:space:]]*=[[:space:]]*"[1-9][0-9]*(:[0-9]+)?"' "$file" || true)"
  read_only="$(grep -cE '^[[:space:]]*readonlyRootFilesystem[[:space:]]*=[[:space:]]*true' "$file" || true)"
  if ((containers == 0)); then
    finding "$file: no container definitions found"
    ok=1
  fi
  if ((users != containers)); then
    finding "$file: $containers containers, $users with a non-root numeric user"
    ok=1
  fi
  if ((read_only != containers)); then
    finding "$file: $containers containers, $read_only with readonlyRootFilesystem = true"
    ok=1
  fi
  root="$(grep -E '^USER[[:space:]]' Dockerfile | tail -n 1 | awk '{print $2}')"
  if [[ -z "$root" || "$root" == root* || "$root" == 0 || "$root" == 0:* ]]; then
    finding "Dockerfile: the final USER is '${root:-unset}', not a non-root user"
    ok=1
  fi
  return "$ok"
}

# The default of `variable "NAME"` in FILE (first `default =` line after it).
tf_default() {
  awk -v name="$2" '
    $0 ~ "^variable \"" name "\"" { inside = 1 }
    inside && /^[[:space:]]*default[[:space:]]*=/ { sub(/^[^=]*=[[:space:]]*/, ""); print; exit }
    inside && /^}/ { exit }
  ' "$1"
}

function_url_defaults_to_iam() {
  local ok=0 file value
  for file in terraform/modules/lambda-function/variables.tf terraform/examples/lambda/variables.tf; do
    value="$(tf_default "$file" url_auth_type)"
    if [[ "$value" != '"AWS_IAM"' ]]; then
      finding "$file: url_auth_type defaults to ${value:-nothing}, not \"AWS_IAM\""
      ok=1
    fi
  done
  if ! grep -A3 -E '^  FunctionUrlAuthType:' template.yaml | grep -qE '^    Default: AWS_IAM$'; then
    finding "template.yaml: FunctionUrlAuthType does not default to AWS_IAM"
    ok=1
  fi
  return "$ok"
}

public_url_needs_opt_in() {
  local ok=0 file value
  for file in terraform/modules/lambda-function/variables.tf terraform/examples/lambda/variables.tf; do
    value="$(tf_default "$file" allow_public_url)"
    if [[ "$value" != false ]]; then
      finding "$file: allow_public_url defaults to ${value:-nothing}, not false"
      ok=1
    fi
  done
  if ! grep -qF 'var.url_auth_type != "NONE" || var.allow_public_url' terraform/modules/lambda-function/variables.tf; then
    finding "lambda-function: no validation refusing url_auth_type NONE without allow_public_url"
    ok=1
  fi
  if ! grep -A3 -E '^  AllowPublicUrl:' template.yaml | grep -qE '^    Default: "false"$' ||
    ! grep -A4 -E '^  PublicUrlNeedsOptIn:' template.yaml | grep -qF 'Assert: !Equals [!Ref AllowPublicUrl, "true"]'; then
    finding "template.yaml: FunctionUrlAuthType NONE is not refused without AllowPublicUrl \"true\" (Rules)"
    ok=1
  fi
  return "$ok"
}

alb_https_and_waf_by_default() {
  local ok=0 file
  for file in terraform/modules/ecs-service/variables.tf terraform/examples/fargate/variables.tf; do
    [[ "$(tf_default "$file" allow_insecure_http)" == false ]] ||
      { finding "$file: allow_insecure_http does not default to false"; ok=1; }
    [[ "$(tf_default "$file" waf_enabled)" == true ]] ||
      { finding "$file: waf_enabled does not default to true"; ok=1; }
  done
  if ! grep -qF 'var.certificate_arn != null || var.allow_insecure_http' terraform/modules/ecs-service/variables.tf; then
    finding "ecs-service: no validation refusing a plan without certificate_arn or allow_insecure_http"
    ok=1
  fi
  if ! grep -qF 'type             = local.https ? "redirect" : "forward"' terraform/modules/ecs-service/alb.tf; then
    finding "ecs-service: the HTTP listener does not redirect when a certificate is given"
    ok=1
  fi
  return "$ok"
}

# Each `condition { test = ...; variable = ... }` in the OIDC module as "test variable".
oidc_conditions() {
  awk '
    /condition[[:space:]]*\{/ { test = ""; var = "" }
    /^[[:space:]]*test[[:space:]]*=/ { test = $3 }
    /^[[:space:]]*variable[[:space:]]*=/ { var = $3; print test, var }
  ' terraform/modules/github-oidc/main.tf
}

oidc_trust_is_exact() {
  local ok=0 conditions claim
  conditions="$(oidc_conditions)"
  for claim in sub aud; do
    if ! grep -qE "^\"StringEquals\" \".*:${claim}\"$" <<<"$conditions"; then
      finding "github-oidc: no StringEquals condition on the token's $claim"
      ok=1
    fi
  done
  if grep -vE '^"StringEquals" ' <<<"$conditions" | grep -q .; then
    finding "github-oidc: a condition other than StringEquals: $(grep -vE '^"StringEquals" ' <<<"$conditions" | tr '\n' ' ')"
    ok=1
  fi
  return "$ok"
}

log_groups_expire() {
  local ok=0 file blocks with name value
  for file in "${tf_files[@]}"; do
    blocks="$(grep -cE '^resource "aws_cloudwatch_log_group"' "$file" || true)"
    ((blocks == 0)) && continue
    with="$(awk '/^resource "aws_cloudwatch_log_group"/ { inside = 1 }
      inside && /retention_in_days[[:space:]]*=/ { n++; inside = 0 }
      inside && /^}/ { inside = 0 } END { print n + 0 }' "$file")"
    if ((with != blocks)); then
      finding "$file: $blocks log groups, $with with retention_in_days"
      ok=1
    fi
  done
  for file in "${tf_files[@]}"; do
    while IFS= read -r name; do
      value="$(tf_default "$file" "$name")"
      if [[ -z "$value" || "$value" == 0 ]]; then
        finding "$file: variable $name defaults to ${value:-nothing} (0 keeps logs forever)"
        ok=1
      fi
    done < <(sed -nE 's/^variable "([a-z_]*retention_in_days)".*/\1/p' "$file")
  done
  local sam_groups sam_retention
  sam_groups="$(grep -cE 'Type: AWS::Logs::LogGroup' template.yaml || true)"
  sam_retention="$(grep -cE '^[[:space:]]+RetentionInDays:' template.yaml || true)"
  if ((sam_groups != sam_retention)); then
    finding "template.yaml: $sam_groups log groups, $sam_retention with RetentionInDays"
    ok=1
  fi
  if ! grep -A2 -E '^  LogRetentionInDays:' template.yaml | grep -qE '^    Default: [1-9]'; then
    finding "template.yaml: LogRetentionInDays has no non-zero default"
    ok=1
  fi
  return "$ok"
}

check "no wildcard IAM actions" no_wildcard_actions
check "containers non-root, read-only" containers_non_root_read_only
check "function URL defaults to AWS_IAM" function_url_defaults_to_iam
check "public function URL only on explicit opt-in" public_url_needs_opt_in
check "ALB: HTTPS unless waived, WAF on by default" alb_https_and_waf_by_default
check "GitHub OIDC trust uses StringEquals on sub and aud" oidc_trust_is_exact
check "log groups expire" log_groups_expire
check "Resource \"*\" only where IAM has no resource type" python3 tests/checks/policy_scan.py resources
check "tasks reachable from the ALB only, no public IP" python3 tests/checks/policy_scan.py ingress
check "no secret in Terraform state or environment variables" python3 tests/checks/policy_scan.py secrets

if ((${#failed[@]} > 0)); then
  printf 'security: FAILED (%s); %d passed\n' "$(
    IFS=,
    printf '%s' "${failed[*]}"
  )" "$passed"
  exit 1
fi
echo "security: all $passed checks passed"
