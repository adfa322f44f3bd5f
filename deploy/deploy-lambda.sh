#!/usr/bin/env bash
# Uploads the Lambda zip, publishes it as a new version and moves the alias to that version.
# Prints the published version number.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
Usage: $PROG [--function NAME] [--alias NAME] [--zip PATH] [--description TEXT]
       [--region REGION] [--dry-run]

Runs, in order:
  aws lambda update-function-code --zip-file fileb://PATH
  aws lambda wait function-updated-v2
  aws lambda publish-version --code-sha256 <sha of the upload>
  aws lambda wait published-version-active
  aws lambda update-alias --function-version <published version>
and prints the published version on stdout. Publishing with the uploaded
code's SHA-256 makes it fail rather than publish code someone else uploaded
in between; the alias only moves once that version is active.

Options:
  --function NAME     function name or ARN
  --alias NAME        alias to move (default live)
  --zip PATH          zip from build-lambda-zip.sh
                      (default: <repo>/target/lambda/axum-xray-otel/bootstrap.zip)
  --description TEXT  description of the published version, e.g. the commit SHA
  --region REGION     AWS region
  --dry-run           print the mutating commands instead of running them
  -h, --help          show this help

Environment (flags win):
  LAMBDA_FUNCTION, LAMBDA_ALIAS, LAMBDA_ZIP, AWS_REGION
EOF
}

function_name="${LAMBDA_FUNCTION:-}"
alias_name="${LAMBDA_ALIAS:-live}"
zip="${LAMBDA_ZIP:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/lambda/axum-xray-otel/bootstrap.zip}"
description=""
region="${AWS_REGION:-}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --function) function_name="$(flag_value "$@")"; shift ;;
    --alias) alias_name="$(flag_value "$@")"; shift ;;
    --zip) zip="$(flag_value "$@")"; shift ;;
    --description) description="$(flag_value "$@")"; shift ;;
    --region) region="$(flag_value "$@")"; shift ;;
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
log "moving alias $alias_name to version $version"
run aws lambda update-alias "${common[@]}" --name "$alias_name" --function-version "$version" \
  --output json >/dev/null
[[ "$DRY_RUN" == 1 ]] && exit 0
printf '%s\n' "$version"
