#!/usr/bin/env bash
# Uploads the Lambda zip, publishes it as a new version and moves the alias to that version:
# with --alarms, first a share of the traffic (weighted alias) while the alarms are watched,
# rolling back if one fires. Prints the published version number.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
Usage: $PROG [--function NAME] [--alias NAME] [--zip PATH] [--code-sha256 B64] [--description TEXT]
       [--alarms A,B] [--version-alarms A] [--canary-percent N] [--checks N] [--interval SECONDS]
       [--region REGION] [--dry-run]

Runs, in order:
  aws lambda update-function-code --zip-file fileb://PATH
  aws lambda wait function-updated-v2
  aws lambda publish-version --code-sha256 <sha of the upload>
  aws lambda wait published-version-active
then, with --alarms (a canary):
  aws cloudwatch describe-alarms / put-metric-alarm / set-alarm-state
                                        (each --version-alarms alarm: its ExecutedVersion
                                        dimensions set to the new version, its state OK)
  aws cloudwatch describe-alarms        (none may be firing already)
  aws lambda get-alias                  (the version serving now)
  aws lambda update-alias --routing-config AdditionalVersionWeights={<new>=N%}
  aws cloudwatch describe-alarms        (--checks times, --interval seconds apart)
  aws lambda update-alias --function-version <new>        (no alarm fired), or
  aws lambda update-alias --function-version <old>        (one fired: rollback, exit 1)
without --alarms:
  aws lambda update-alias --function-version <published version>
and prints the published version on stdout. Publishing with the uploaded
code's SHA-256 makes it fail rather than publish code someone else uploaded
in between; the alias only moves once that version is active.

Options:
  --function NAME     function name or ARN
  --alias NAME        alias to move (default live)
  --zip PATH          zip from build-lambda-zip.sh
                      (default: <repo>/target/lambda/axum-xray-otel/bootstrap.zip)
  --code-sha256 B64   base64 SHA-256 the zip must have (the build's; Lambda's CodeSha256):
                      the upload is checked against it before anything is published
  --description TEXT  description of the published version, e.g. the commit SHA
  --alarms A,B        CloudWatch alarms that stop the canary (terraform output alarm_names)
  --version-alarms A  of those, the alarms on one version's metrics (dimension ExecutedVersion,
                      terraform output version_alarm_names): pointed at the new version
                      before the canary, so they see its own failures
  --canary-percent N  share of the traffic the new version gets while watched (default 10)
  --checks N          how many times the alarms are read (default 10)
  --interval SECONDS  time between two reads (default 30: 5 minutes in all)
  --region REGION     AWS region
  --dry-run           print the mutating commands instead of running them
  -h, --help          show this help

Environment (flags win):
  LAMBDA_FUNCTION, LAMBDA_ALIAS, LAMBDA_ZIP, LAMBDA_CODE_SHA256, LAMBDA_ALARMS, LAMBDA_VERSION_ALARMS, AWS_REGION
EOF
}

function_name="${LAMBDA_FUNCTION:-}"
alias_name="${LAMBDA_ALIAS:-live}"
zip="${LAMBDA_ZIP:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/lambda/axum-xray-otel/bootstrap.zip}"
description=""
expected_sha="${LAMBDA_CODE_SHA256:-}"
region="${AWS_REGION:-}"
alarms="${LAMBDA_ALARMS:-}"
version_alarms="${LAMBDA_VERSION_ALARMS:-}"
canary_percent=10
checks=10
interval=30
while [[ $# -gt 0 ]]; do
  case "$1" in
    --function) function_name="$(flag_value "$@")"; shift ;;
    --alias) alias_name="$(flag_value "$@")"; shift ;;
    --zip) zip="$(flag_value "$@")"; shift ;;
    --description) description="$(flag_value "$@")"; shift ;;
    --code-sha256) expected_sha="$(flag_value "$@")"; shift ;;
    --region) region="$(flag_value "$@")"; shift ;;
    --alarms) alarms="$(flag_value "$@")"; shift ;;
    --version-alarms) version_alarms="$(flag_value "$@")"; shift ;;
    --canary-percent) canary_percent="$(flag_value "$@")"; shift ;;
    --checks) checks="$(flag_value "$@")"; shift ;;
    --interval) interval="$(flag_value "$@")"; shift ;;
    --dry-run) DRY_RUN=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument: $1" ;;
  esac
  shift
done

require_cmd aws jq
LAMBDA_FUNCTION="$function_name" LAMBDA_ALIAS="$alias_name" AWS_REGION="$region"
require_var AWS_REGION --region
require_var LAMBDA_FUNCTION --function
require_var LAMBDA_ALIAS --alias
[[ -f "$zip" ]] || die "zip not found: $zip (build it with deploy/build-lambda-zip.sh)"
[[ "$canary_percent" =~ ^[0-9]+$ && "$canary_percent" -ge 1 && "$canary_percent" -le 99 ]] ||
  usage_error "--canary-percent must be an integer from 1 to 99"
[[ "$checks" =~ ^[0-9]+$ && "$checks" -ge 1 ]] || usage_error "--checks must be a positive integer"
[[ "$interval" =~ ^[0-9]+$ ]] || usage_error "--interval must be a number of seconds"
alarm_names=()
[[ -z "$alarms" ]] || IFS=, read -r -a alarm_names <<<"$alarms"
version_alarm_names=()
[[ -z "$version_alarms" ]] || IFS=, read -r -a version_alarm_names <<<"$version_alarms"
for name in "${version_alarm_names[@]}"; do
  [[ ",$alarms," == *",$name,"* ]] || usage_error "--version-alarms $name is not one of --alarms"
done

common=(--function-name "$function_name" --region "$region")

if [[ "$DRY_RUN" == 1 ]]; then
  code_sha="<code-sha256>"
  version="<version>"
  run aws lambda update-function-code "${common[@]}" --zip-file "fileb://$zip" --output json
  run aws lambda wait function-updated-v2 "${common[@]}"
else
  log "uploading $zip to $function_name"
  code_sha="$(aws lambda update-function-code "${common[@]}" --zip-file "fileb://$zip" --output json |
    jq -r '.CodeSha256 // empty')" || die "aws lambda update-function-code failed"
  [[ -n "$code_sha" ]] || die "update-function-code returned no CodeSha256"
  # The zip Lambda received is the one the build made, byte for byte.
  [[ -z "$expected_sha" || "$code_sha" == "$expected_sha" ]] ||
    die "the uploaded code has SHA-256 $code_sha, not the built $expected_sha; nothing published"
  log "waiting for the update of $function_name"
  aws lambda wait function-updated-v2 "${common[@]}" || die "function $function_name did not finish updating"
fi

publish=(aws lambda publish-version "${common[@]}" --code-sha256 "$code_sha" --output json)
[[ -z "$description" ]] || publish+=(--description "$description")
if [[ "$DRY_RUN" == 1 ]]; then
  run "${publish[@]}"
else
  version="$("${publish[@]}" | jq -r '.Version // empty')" || die "aws lambda publish-version failed"
  [[ "$version" =~ ^[0-9]+$ ]] || die "publish-version returned no version number"
  log "published version $version"
fi

run aws lambda wait published-version-active "${common[@]}" --qualifier "$version"

# firing_alarms: the names of the watched alarms in state ALARM (fails if they cannot be read).
firing_alarms() {
  aws cloudwatch describe-alarms --region "$region" --alarm-names "${alarm_names[@]}" \
    --state-value ALARM --output json | jq -r '[.MetricAlarms[]?, .CompositeAlarms[]?][].AlarmName'
}

# move_alias VERSION [WEIGHTS]: point the alias at VERSION, with WEIGHTS ({"v": share}) on top.
move_alias() {
  run aws lambda update-alias "${common[@]}" --name "$alias_name" --function-version "$1" \
    --routing-config "AdditionalVersionWeights=${2:-{\}}" --output json >/dev/null
}

if ((${#alarm_names[@]} == 0)); then
  log "no --alarms given: moving alias $alias_name to version $version at once"
  run aws lambda update-alias "${common[@]}" --name "$alias_name" --function-version "$version" \
    --output json >/dev/null
  [[ "$DRY_RUN" == 1 ]] && exit 0
  printf '%s\n' "$version"
  exit 0
fi

# retarget_alarm NAME: point the ExecutedVersion dimensions (AWS/Lambda) and function_version
# dimensions (the app's EMF) of alarm NAME at $version (the rest of its definition as it is) and
# reset its state, which described the previous version.
retarget_alarm() {
  local definition
  definition="$(mktemp)"
  # shellcheck disable=SC2064 # the path is fixed now
  trap "rm -f '$definition'" EXIT
  aws cloudwatch describe-alarms --region "$region" --alarm-names "$1" --output json |
    jq -c --arg v "$version" '
      def retarget: if .Name == "ExecutedVersion" or .Name == "function_version" then .Value = $v else . end;
      .MetricAlarms[0] // error("no such metric alarm")
      | {AlarmName, AlarmDescription, ActionsEnabled, OKActions, AlarmActions,
         InsufficientDataActions, MetricName, Namespace, Statistic, ExtendedStatistic, Dimensions,
         Period, Unit, EvaluationPeriods, DatapointsToAlarm, Threshold, ComparisonOperator,
         TreatMissingData, EvaluateLowSampleCountPercentile, Metrics, ThresholdMetricId}
      | with_entries(select(.value != null))
      | if .Dimensions then .Dimensions |= map(retarget) else . end
      | if .Metrics then .Metrics |= map(if .MetricStat then .MetricStat.Metric.Dimensions |= map(retarget) else . end) else . end
      | if [.. | objects | select(.Name? == "ExecutedVersion")] == [] then error("no ExecutedVersion dimension") else . end' \
      >"$definition" || return 1
  aws cloudwatch put-metric-alarm --region "$region" --cli-input-json "file://$definition" || return 1
  aws cloudwatch set-alarm-state --region "$region" --alarm-name "$1" --state-value OK \
    --state-reason "watching version $version of $function_name" || return 1
}

for name in "${version_alarm_names[@]}"; do
  if [[ "$DRY_RUN" == 1 ]]; then
    run aws cloudwatch put-metric-alarm --region "$region" --alarm-name "$name" "<ExecutedVersion=$version>"
  else
    log "alarm $name now watches version $version"
    retarget_alarm "$name" || die "cannot point alarm $name at version $version; nothing shifted"
  fi
done

firing="$(firing_alarms)" || die "cannot read alarms ${alarms}; nothing shifted"
[[ -z "$firing" ]] || die "alarm already firing before the canary: ${firing//$'\n'/, }; nothing shifted"
old="$(aws lambda get-alias "${common[@]}" --name "$alias_name" --output json |
  jq -r '.FunctionVersion // empty')" || die "aws lambda get-alias failed"
[[ -n "$old" ]] || die "alias $alias_name has no version"
[[ "$old" != "$version" ]] || die "alias $alias_name already serves version $version"

weight="$(printf '0.%02d' "$canary_percent")"
log "canary: $canary_percent% of alias $alias_name to version $version, the rest on $old"
move_alias "$old" "{\"$version\":$weight}"
[[ "$DRY_RUN" == 1 ]] && exit 0

for ((check = 1; check <= checks; check++)); do
  ((check == 1)) || sleep "$interval"
  if ! firing="$(firing_alarms)"; then
    move_alias "$old"
    die "cannot read alarms during the canary; rolled alias $alias_name back to version $old"
  fi
  if [[ -n "$firing" ]]; then
    move_alias "$old"
    die "alarm fired during the canary: ${firing//$'\n'/, }; rolled alias $alias_name back to version $old (version $version is left unused)"
  fi
  log "check $check/$checks: no alarm"
done
log "canary healthy: moving all of alias $alias_name to version $version"
move_alias "$version"
printf '%s\n' "$version"
