#!/usr/bin/env bash
# Checks a deployed service answers: GET /health and GET /api/users/1 must return 200 and the
# expected JSON. Retries a bounded number of times while a deployment settles.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
Usage: $PROG [--sigv4] [--attempts N] [--interval SECS] [--timeout SECS] [--region REGION]
       [--dry-run] URL

Passes when, in the same attempt,
  GET URL/health        returns 200 and {"status":"ok"}
  GET URL/api/users/1   returns 200 and {"id":1,"name":<string>,"email":<string>}.
Otherwise waits --interval seconds and tries again, at most --attempts times.

URL is the ALB URL (Fargate) or the function URL (Lambda), e.g. https://abc.lambda-url.eu-west-1.on.aws

Options:
  --sigv4          sign requests with SigV4 for a function URL whose auth type is AWS_IAM;
                   uses AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN
  --attempts N     attempts before giving up (default 10)
  --interval SECS  pause between attempts (default 6)
  --timeout SECS   limit for each request (default 10)
  --region REGION  region for the SigV4 signature (default \$AWS_REGION)
  --dry-run        print the requests instead of sending them
  -h, --help       show this help

Environment (flags win):
  SMOKE_ATTEMPTS, SMOKE_INTERVAL_SECS, SMOKE_TIMEOUT_SECS, AWS_REGION
EOF
}

sigv4=0
attempts="${SMOKE_ATTEMPTS:-10}"
interval="${SMOKE_INTERVAL_SECS:-6}"
timeout="${SMOKE_TIMEOUT_SECS:-10}"
region="${AWS_REGION:-}"
url=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --sigv4) sigv4=1 ;;
    --attempts) attempts="$(flag_value "$@")"; shift ;;
    --interval) interval="$(flag_value "$@")"; shift ;;
    --timeout) timeout="$(flag_value "$@")"; shift ;;
    --region) region="$(flag_value "$@")"; shift ;;
    --dry-run) DRY_RUN=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) usage_error "unknown argument: $1" ;;
    *)
      [[ -z "$url" ]] || usage_error "only one URL, got '$url' and '$1'"
      url="$1"
      ;;
  esac
  shift
done

[[ -n "$url" ]] || usage_error "URL is required"
[[ "$url" =~ ^https?://[^/]+ ]] || die "URL must start with http:// or https://, got '$url'"
url="${url%/}"
for n in attempts interval timeout; do
  [[ "${!n}" =~ ^[0-9]+$ ]] || die "--$n must be a whole number, got '${!n}'"
done
((attempts >= 1)) || die "--attempts must be at least 1"
require_cmd curl jq

curl_args=(--silent --show-error --max-time "$timeout" --header 'accept: application/json')
if ((sigv4)); then
  AWS_REGION="$region"
  require_var AWS_REGION --region
  [[ -n "${AWS_ACCESS_KEY_ID:-}" && -n "${AWS_SECRET_ACCESS_KEY:-}" ]] ||
    die "--sigv4 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (e.g. eval \"\$(aws configure export-credentials --format env)\")"
  curl_args+=(--aws-sigv4 "aws:amz:$region:lambda" --config -)
  # Secrets go to curl on stdin, not argv, where any process could read them.
  credentials="user = \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\""
  if [[ -n "${AWS_SESSION_TOKEN:-}" ]]; then
    credentials+=$'\n'"header = \"x-amz-security-token: $AWS_SESSION_TOKEN\""
  fi
fi

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT

# check PATH FILTER: prints why GET URL/PATH is not a 200 whose JSON body passes jq FILTER.
check() {
  local path="$1" filter="$2" code
  code="$(curl "${curl_args[@]}" --output "$workdir/body" --write-out '%{http_code}' \
    "$url$path" 2>"$workdir/err" <<<"${credentials:-}")" || {
    printf 'GET %s failed: %s' "$path" "$(tail -n 1 "$workdir/err")"
    return 1
  }
  [[ "$code" == 200 ]] || {
    printf 'GET %s returned HTTP %s' "$path" "$code"
    return 1
  }
  jq -e "$filter" "$workdir/body" >/dev/null 2>&1 || {
    printf 'GET %s returned an unexpected body: %s' "$path" "$(head -c 300 "$workdir/body")"
    return 1
  }
}

health_filter='.status == "ok"'
user_filter='.id == 1 and (.name | type) == "string" and (.email | type) == "string"'

if [[ "$DRY_RUN" == 1 ]]; then
  for path in /health /api/users/1; do
    printf 'dry-run: %s%s\n' "$(quote_cmd curl "${curl_args[@]}" "$url$path")" \
      "$( ((sigv4)) && printf ' <<< <credentials from AWS_* variables>')" >&2
  done
  exit 0
fi

for ((attempt = 1; attempt <= attempts; attempt++)); do
  if error="$(check /health "$health_filter")" && error="$(check /api/users/1 "$user_filter")"; then
    log "passed: $url/health and $url/api/users/1 (attempt $attempt/$attempts)"
    exit 0
  fi
  log "attempt $attempt/$attempts: $error"
  ((attempt == attempts)) || sleep "$interval"
done
die "failed after $attempts attempts: $error"
