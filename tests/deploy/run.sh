#!/usr/bin/env bash
# Tests of deploy/*.sh. Each test runs a script with a clean environment and a PATH holding
# only fake aws/docker/cargo (tests/deploy/fakes, which log their calls and answer from
# tests/deploy/fixtures) and a whitelist of system tools, then asserts on the exact calls made.
# The smoke test runs against tests/deploy/server.py on 127.0.0.1, port 0.
# Prints one line per test, then "N passed, N failed"; exits non-zero if any failed.
# shellcheck disable=SC2016 # $names inside single quotes are jq variables
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
deploy="$repo/deploy"

for tool in jq curl python3 git; do
  command -v "$tool" >/dev/null || { echo "tests/deploy: $tool is needed to run these tests" >&2; exit 2; }
done

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT

# The only system tools the scripts (and fakes) may use; a real aws, docker or cargo is never
# reachable, and a script using something else fails here instead of on a runner.
sysbin="$root/sysbin"
mkdir "$sysbin"
for tool in bash env basename dirname mktemp rm mkdir cat cp jq curl git head tail sleep; do
  ln -s "$(command -v "$tool")" "$sysbin/$tool"
done
python="$(command -v python3)"

sha=0123456789abcdef0123456789abcdef01234567
repo_url=123456789012.dkr.ecr.eu-west-1.amazonaws.com/axum-xray-otel
digest=sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
td=arn:aws:ecs:eu-west-1:123456789012:task-definition/axum-xray-otel

# --- helpers (run inside each test's subshell) ---

fail() {
  printf '%s\n' "$*"
  exit 1
}

# run_script SCRIPT ARGS...: run deploy/SCRIPT with env -i, PATH=fakes+whitelist and the NAME=value
# pairs in the array `vars`; leaves stdout, stderr and the exit status in $T/out, $T/err, $status.
run_script() {
  local script="$1"
  shift
  set +e
  env -i HOME="$T" TMPDIR="$T/tmp" PATH="$T/bin:$sysbin" FAKE_STATE="$T/state" \
    FAKE_FIXTURES="$T/fixtures" CARGO_TARGET_DIR="$T/target" "${vars[@]}" \
    "$deploy/$script" "$@" >"$T/out" 2>"$T/err"
  status=$?
  set -e
}

assert_status() {
  [[ "$status" == "$1" ]] || fail "exit status $status, expected $1; stderr: $(cat "$T/err")"
}

assert_stdout() {
  [[ "$(cat "$T/out")" == "$1" ]] || fail "stdout '$(cat "$T/out")', expected '$1'"
}

assert_stderr_has() {
  grep -qF -- "$1" "$T/err" || fail "stderr lacks '$1'; stderr: $(cat "$T/err")"
}

# assert_calls_in FILE < expected: like assert_calls, for a part of the call log.
assert_calls_in() {
  local saved="$T/state/calls.log.full"
  cp "$T/state/calls.log" "$saved"
  cp "$1" "$T/state/calls.log"
  assert_calls
  cp "$saved" "$T/state/calls.log"
}

# assert_calls < expected: the fakes' call log, line by line, matches these glob patterns
# (a '*' stands for a temporary path). An empty input asserts that nothing was called.
assert_calls() {
  local expected actual
  expected="$(cat)"
  actual="$(cat "$T/state/calls.log" 2>/dev/null || true)"
  local -a want got
  mapfile -t want <<<"$expected"
  mapfile -t got <<<"$actual"
  local i
  for ((i = 0; i < ${#want[@]} || i < ${#got[@]}; i++)); do
    # shellcheck disable=SC2053 # the expected line is a glob pattern on purpose
    [[ "${got[i]-<none>}" == ${want[i]-<none>} ]] ||
      fail "call $((i + 1)) was: ${got[i]-<none>}"$'\n'"expected:   ${want[i]-<none>}"$'\n'"all calls:"$'\n'"$actual"
  done
}

# jq_assert FILE MESSAGE FILTER [JQ_OPTION...]: FILTER must be true on FILE.
jq_assert() {
  jq -e "${@:4}" "$3" "$1" >/dev/null || fail "$2: $(jq -c . "$1")"
}

# start_server ROUTES_JSON: starts server.py, sets $port; the test's EXIT trap stops it by PID.
start_server() {
  printf '%s\n' "$1" >"$T/routes.json"
  mkfifo "$T/port"
  "$python" "$here/server.py" "$T/routes.json" "$T/requests.log" >"$T/port" &
  server_pid=$!
  trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true' EXIT
  # read blocks until the server has bound its port and printed it; -t is only a deadline.
  read -r -t 20 port <"$T/port" || fail "test server did not start"
}

healthy_routes='{"/health": [{"status": 200, "body": {"status": "ok"}}],
  "/api/users/1": [{"status": 200, "body": {"id": 1, "name": "User 1", "email": "user1@example.com"}}]}'

# --- build-lambda-zip.sh ---

test_zip_builds_arm64_by_default_and_prints_the_zip_path() {
  run_script build-lambda-zip.sh
  assert_status 0
  assert_stdout "$T/target/lambda/axum-xray-otel/bootstrap.zip"
  assert_calls <<<'cargo lambda build --release --arm64 --output-format zip'
}

test_zip_x86_64_flag_selects_the_x86_64_target() {
  run_script build-lambda-zip.sh --x86-64
  assert_status 0
  assert_calls <<<'cargo lambda build --release --x86-64 --output-format zip'
}

test_zip_dry_run_prints_the_build_and_runs_nothing() {
  run_script build-lambda-zip.sh --dry-run
  assert_status 0
  assert_stdout ""
  assert_calls </dev/null
  assert_stderr_has 'dry-run: cargo lambda build --release --arm64 --output-format zip'
}

test_zip_without_cargo_lambda_says_so() {
  rm "$T/bin/cargo-lambda"
  run_script build-lambda-zip.sh
  assert_status 1
  assert_stderr_has 'build-lambda-zip.sh: cargo-lambda is required but was not found on PATH'
  assert_calls </dev/null
}

# --- build-push-image.sh ---

test_image_logs_in_builds_pushes_and_prints_the_digest() {
  run_script build-push-image.sh --tag "$sha" --file "$T/Dockerfile"
  assert_status 0
  assert_stdout "$repo_url@$digest"
  assert_calls <<EOF
aws ecr describe-images --repository-name axum-xray-otel --image-ids imageTag=$sha --region eu-west-1 --output json
aws ecr get-login-password --region eu-west-1
docker login --username AWS --password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com
docker buildx build --platform linux/arm64 --file $T/Dockerfile --tag $repo_url:$sha --label org.opencontainers.image.revision=$sha --metadata-file * --push $repo
EOF
  [[ "$(cat "$T/state/docker-login.stdin")" == fake-ecr-password ]] ||
    fail "docker login did not get the password on stdin"
}

test_image_already_pushed_is_reused_not_rebuilt() {
  rm "$T/fixtures/ecr-describe-images.exit"
  run_script build-push-image.sh --tag "$sha" --file "$T/Dockerfile"
  assert_status 0
  assert_stdout "$repo_url@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
  assert_calls <<EOF
aws ecr describe-images --repository-name axum-xray-otel --image-ids imageTag=$sha --region eu-west-1 --output json
EOF
}

test_image_stops_when_the_registry_cannot_be_read() {
  echo 'An error occurred (AccessDeniedException) when calling the DescribeImages operation' \
    >"$T/fixtures/ecr-describe-images.stderr"
  run_script build-push-image.sh --tag "$sha" --file "$T/Dockerfile"
  assert_status 1
  assert_stderr_has 'aws ecr describe-images failed: An error occurred (AccessDeniedException)'
  grep -q '^docker' "$T/state/calls.log" && fail "docker ran"
  true
}

test_image_platform_comes_from_the_flag() {
  run_script build-push-image.sh --tag "$sha" --file "$T/Dockerfile" --platform linux/amd64
  assert_status 0
  grep -q -- '--platform linux/amd64 ' "$T/state/calls.log" || fail "no linux/amd64 build: $(cat "$T/state/calls.log")"
}

test_image_refuses_the_latest_tag() {
  run_script build-push-image.sh --tag latest --file "$T/Dockerfile"
  assert_status 1
  assert_stderr_has "the image tag must be a git commit SHA (immutable), got 'latest'"
  assert_calls </dev/null
}

test_image_dry_run_only_reads() {
  run_script build-push-image.sh --tag "$sha" --file "$T/Dockerfile" --dry-run
  assert_status 0
  assert_stdout ""
  assert_calls <<EOF
aws ecr describe-images --repository-name axum-xray-otel --image-ids imageTag=$sha --region eu-west-1 --output json
EOF
  assert_stderr_has 'dry-run: aws ecr get-login-password --region eu-west-1 | docker login --username AWS --password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com'
  assert_stderr_has "dry-run: docker buildx build --platform linux/arm64 --file $T/Dockerfile --tag $repo_url:$sha"
}

test_image_without_repository_url_says_so() {
  vars=(AWS_REGION=eu-west-1)
  run_script build-push-image.sh --tag "$sha" --file "$T/Dockerfile"
  assert_status 1
  assert_stderr_has 'build-push-image.sh: ECR_REPOSITORY_URL is not set (export ECR_REPOSITORY_URL or pass --repository-url)'
  assert_calls </dev/null
}

test_image_output_builds_an_archive_without_aws_or_registry() {
  vars=()
  run_script build-push-image.sh --tag "$sha" --file "$T/Dockerfile" --output "$T/image.tar"
  assert_status 0
  assert_stdout "$digest"
  assert_calls <<EOF
docker buildx build --platform linux/arm64 --file $T/Dockerfile --label org.opencontainers.image.revision=$sha --metadata-file * --output type=oci?,dest=$T/image.tar $repo
EOF
}

test_image_archive_is_pushed_with_its_digest_unchanged() {
  : >"$T/image.tar"
  run_script build-push-image.sh --tag "$sha" --archive "$T/image.tar" --digest "$digest"
  assert_status 0
  assert_stdout "$repo_url@$digest"
  assert_calls <<EOF
aws ecr describe-images --repository-name axum-xray-otel --image-ids imageTag=$sha --region eu-west-1 --output json
aws ecr get-login-password --region eu-west-1
skopeo login --username AWS --password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com
skopeo copy --all --preserve-digests --digestfile * oci-archive:$T/image.tar docker://$repo_url:$sha
EOF
  [[ "$(cat "$T/state/skopeo-login.stdin")" == fake-ecr-password ]] ||
    fail "skopeo login did not get the password on stdin"
  if grep -q '^docker' "$T/state/calls.log"; then fail "docker ran: the push job must not build"; fi
}

test_image_archive_fails_when_the_registry_digest_differs() {
  : >"$T/image.tar"
  printf 'sha256:%064d' 1 >"$T/fixtures/skopeo-copy-digest.txt"
  run_script build-push-image.sh --tag "$sha" --archive "$T/image.tar" --digest "$digest"
  assert_status 1
  assert_stdout ""
  assert_stderr_has "not the built $digest"
}

test_image_archive_refuses_a_tag_that_holds_another_image() {
  rm "$T/fixtures/ecr-describe-images.exit"
  : >"$T/image.tar"
  run_script build-push-image.sh --tag "$sha" --archive "$T/image.tar" --digest "$digest"
  assert_status 1
  assert_stderr_has "holds sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, not the built $digest; nothing pushed"
  if grep -q '^skopeo' "$T/state/calls.log"; then fail "skopeo ran"; fi
}

test_image_archive_needs_a_digest() {
  : >"$T/image.tar"
  run_script build-push-image.sh --tag "$sha" --archive "$T/image.tar"
  assert_status 2
  assert_stderr_has '--archive needs --digest sha256:<64 hex digits>'
  assert_calls </dev/null
}

test_image_without_docker_says_so() {
  rm "$T/bin/docker"
  run_script build-push-image.sh --tag "$sha" --file "$T/Dockerfile"
  assert_status 1
  assert_stderr_has 'build-push-image.sh: docker is required but was not found on PATH'
  assert_calls </dev/null
}

# --- deploy-fargate.sh ---

test_fargate_registers_the_new_digest_and_rolls_the_service() {
  run_script deploy-fargate.sh --image "$repo_url@$digest"
  assert_status 0
  assert_stdout "$td:8"
  assert_calls <<EOF
aws ecs describe-services --cluster axum-xray-otel --services axum-xray-otel --region eu-west-1 --output json
aws ecs describe-task-definition --task-definition $td:7 --include TAGS --region eu-west-1 --output json
aws ecs register-task-definition --cli-input-json file://* --region eu-west-1 --output json
aws ecs update-service --cluster axum-xray-otel --service axum-xray-otel --task-definition $td:8 --region eu-west-1 --output json
aws ecs wait services-stable --cluster axum-xray-otel --services axum-xray-otel --region eu-west-1
aws ecs describe-services --cluster axum-xray-otel --services axum-xray-otel --region eu-west-1 --output json
EOF
  local input="$T/state/ecs-register-task-definition.input.json"
  jq_assert "$input" "app image is not the new digest" \
    '[.containerDefinitions[] | select(.name == "app") | .image] == [$image]' --arg image "$repo_url@$digest"
  jq_assert "$input" "sidecar image changed" '[.containerDefinitions[] | select(.name == "aws-otel-collector")
    | .image] == ["public.ecr.aws/aws-observability/aws-otel-collector:v0.49.0"]'
  jq_assert "$input" "read-only fields kept" '[keys[] | select(IN("taskDefinitionArn", "revision", "status",
    "requiresAttributes", "compatibilities", "registeredAt", "registeredBy", "deregisteredAt"))] == []'
  # Nothing else changed: the input is the old definition with the new image, plus its tags.
  jq_assert "$input" "unexpected differences" '
    . == ($old[0].taskDefinition
      | del(.taskDefinitionArn, .revision, .status, .requiresAttributes, .compatibilities,
            .registeredAt, .registeredBy)
      | .containerDefinitions[0].image = $image
      | .tags = $old[0].tags)' \
    --slurpfile old "$T/fixtures/ecs-describe-task-definition.json" --arg image "$repo_url@$digest"
}

test_fargate_refuses_an_image_tag() {
  run_script deploy-fargate.sh --image "$repo_url:$sha"
  assert_status 1
  assert_stderr_has '--image must be a digest reference (repo@sha256:<64 hex>)'
  assert_calls </dev/null
}

test_fargate_names_the_containers_when_the_app_container_is_missing() {
  run_script deploy-fargate.sh --image "$repo_url@$digest" --container web
  assert_status 1
  assert_stderr_has "container 'web' not in $td:7 (containers: app, aws-otel-collector); pass --container"
  grep -q -- 'register-task-definition\|update-service' "$T/state/calls.log" && fail "mutating call made"
  true
}

test_fargate_dry_run_only_reads() {
  run_script deploy-fargate.sh --image "$repo_url@$digest" --dry-run
  assert_status 0
  assert_stdout ""
  assert_calls <<EOF
aws ecs describe-services --cluster axum-xray-otel --services axum-xray-otel --region eu-west-1 --output json
aws ecs describe-task-definition --task-definition $td:7 --include TAGS --region eu-west-1 --output json
EOF
  assert_stderr_has 'dry-run: aws ecs register-task-definition --cli-input-json file://'
  assert_stderr_has 'dry-run: aws ecs update-service --cluster axum-xray-otel --service axum-xray-otel --task-definition \<new-task-definition-arn\>'
  assert_stderr_has "\"image\": \"$repo_url@$digest\""
}

test_fargate_fails_when_the_deployment_was_rolled_back() {
  # After the wait the service still runs revision 7: the circuit breaker rolled back.
  cp "$T/fixtures/ecs-describe-services.json" "$T/fixtures/ecs-describe-services.2.json"
  run_script deploy-fargate.sh --image "$repo_url@$digest"
  assert_status 1
  assert_stderr_has "service axum-xray-otel is stable on $td:7, not $td:8: the deployment was rolled back"
}

test_fargate_refuses_an_image_of_another_architecture() {
  vars+=(IMAGE_PLATFORM=linux/amd64)
  run_script deploy-fargate.sh --image "$repo_url@$digest"
  assert_status 1
  assert_stderr_has "the image is linux/amd64 but $td:7 runs on ARM64"
  grep -q -- 'register-task-definition' "$T/state/calls.log" && fail "registered a task definition"
  true
}

test_fargate_accepts_an_image_of_the_task_architecture() {
  run_script deploy-fargate.sh --image "$repo_url@$digest" --platform linux/arm64
  assert_status 0
  assert_stdout "$td:8"
}

test_fargate_fails_when_the_service_does_not_stabilise() {
  echo 255 >"$T/fixtures/ecs-wait-services-stable.exit"
  echo 'Waiter ServicesStable failed: Max attempts exceeded' >"$T/fixtures/ecs-wait-services-stable.stderr"
  run_script deploy-fargate.sh --image "$repo_url@$digest"
  assert_status 1
  assert_stderr_has 'Waiter ServicesStable failed: Max attempts exceeded'
  assert_stderr_has 'service axum-xray-otel did not become stable'
  assert_stdout ""
}

test_fargate_without_cluster_says_so() {
  vars=(AWS_REGION=eu-west-1 ECS_SERVICE=axum-xray-otel)
  run_script deploy-fargate.sh --image "$repo_url@$digest"
  assert_status 1
  assert_stderr_has 'deploy-fargate.sh: ECS_CLUSTER is not set (export ECS_CLUSTER or pass --cluster)'
  assert_calls </dev/null
}

test_fargate_stops_when_register_fails() {
  echo 254 >"$T/fixtures/ecs-register-task-definition.exit"
  echo 'An error occurred (AccessDeniedException)' >"$T/fixtures/ecs-register-task-definition.stderr"
  run_script deploy-fargate.sh --image "$repo_url@$digest"
  assert_status 1
  assert_stderr_has 'AccessDeniedException'
  grep -q -- 'update-service' "$T/state/calls.log" && fail "update-service called after a failed register"
  true
}

# --- deploy-lambda.sh ---

test_lambda_uploads_publishes_and_moves_the_alias_to_the_new_version() {
  run_script deploy-lambda.sh --zip "$T/bootstrap.zip" --description "$sha"
  assert_status 0
  assert_stdout 13
  assert_calls <<EOF
aws lambda update-function-code --function-name axum-xray-otel --region eu-west-1 --zip-file fileb://$T/bootstrap.zip --output json
aws lambda wait function-updated-v2 --function-name axum-xray-otel --region eu-west-1
aws lambda publish-version --function-name axum-xray-otel --region eu-west-1 --code-sha256 q1mTn4qnIHaGQMSKJ8rFyzFH0Y3cXeTrlz1kIxRNhsc= --output json --description $sha
aws lambda wait published-version-active --function-name axum-xray-otel --region eu-west-1 --qualifier 13
aws lambda update-alias --function-name axum-xray-otel --region eu-west-1 --name live --function-version 13 --output json
EOF
}

test_lambda_publishes_only_the_built_zip() {
  run_script deploy-lambda.sh --zip "$T/bootstrap.zip" --code-sha256 q1mTn4qnIHaGQMSKJ8rFyzFH0Y3cXeTrlz1kIxRNhsc=
  assert_status 0
  assert_stdout 13
  run_script deploy-lambda.sh --zip "$T/bootstrap.zip" --code-sha256 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
  assert_status 1
  assert_stderr_has 'the uploaded code has SHA-256 q1mTn4qnIHaGQMSKJ8rFyzFH0Y3cXeTrlz1kIxRNhsc=, not the built AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=; nothing published'
  [[ "$(grep -c 'publish-version' "$T/state/calls.log")" == 1 ]] || fail "the second run published"
}

test_lambda_alias_comes_from_the_environment() {
  vars+=(LAMBDA_ALIAS=canary)
  run_script deploy-lambda.sh --zip "$T/bootstrap.zip"
  assert_status 0
  tail -n 1 "$T/state/calls.log" | grep -q -- '--name canary --function-version 13' ||
    fail "alias not canary: $(tail -n 1 "$T/state/calls.log")"
}

test_lambda_dry_run_makes_no_call() {
  run_script deploy-lambda.sh --zip "$T/bootstrap.zip" --dry-run
  assert_status 0
  assert_stdout ""
  assert_calls </dev/null
  assert_stderr_has "dry-run: aws lambda update-function-code --function-name axum-xray-otel --region eu-west-1 --zip-file fileb://$T/bootstrap.zip"
  assert_stderr_has 'dry-run: aws lambda update-alias --function-name axum-xray-otel --region eu-west-1 --name live --function-version \<version\>'
}

test_lambda_without_zip_says_so() {
  run_script deploy-lambda.sh --zip "$T/missing.zip"
  assert_status 1
  assert_stderr_has "deploy-lambda.sh: zip not found: $T/missing.zip (build it with deploy/build-lambda-zip.sh)"
  assert_calls </dev/null
}

test_lambda_without_function_says_so() {
  vars=(AWS_REGION=eu-west-1)
  run_script deploy-lambda.sh --zip "$T/bootstrap.zip"
  assert_status 1
  assert_stderr_has 'deploy-lambda.sh: LAMBDA_FUNCTION is not set (export LAMBDA_FUNCTION or pass --function)'
  assert_calls </dev/null
}

test_lambda_does_not_publish_when_the_upload_fails() {
  echo 254 >"$T/fixtures/lambda-update-function-code.exit"
  run_script deploy-lambda.sh --zip "$T/bootstrap.zip"
  assert_status 1
  assert_stderr_has 'aws lambda update-function-code failed'
  assert_calls <<EOF
aws lambda update-function-code --function-name axum-xray-otel --region eu-west-1 --zip-file fileb://$T/bootstrap.zip --output json
EOF
}

run_canary() {
  run_script deploy-lambda.sh --zip "$T/bootstrap.zip" --alarms fn-5xx-rate,fn-p99-latency --checks 3 --interval 0
}

firing_alarm() {
  printf '%s\n' '{"MetricAlarms": [{"AlarmName": "fn-5xx-rate", "StateValue": "ALARM"}], "CompositeAlarms": []}' \
    >"$T/fixtures/cloudwatch-describe-alarms.$1.json"
}

test_lambda_canary_shifts_a_share_then_all_when_no_alarm_fires() {
  run_canary
  assert_status 0
  assert_stdout 13
  assert_stderr_has 'canary: 10% of alias live to version 13, the rest on 12'
  local watch='aws cloudwatch describe-alarms --region eu-west-1 --alarm-names fn-5xx-rate fn-p99-latency --state-value ALARM --output json'
  tail -n 7 "$T/state/calls.log" >"$T/state/tail.log"
  assert_calls_in "$T/state/tail.log" <<EOF
$watch
aws lambda get-alias --function-name axum-xray-otel --region eu-west-1 --name live --output json
aws lambda update-alias --function-name axum-xray-otel --region eu-west-1 --name live --function-version 12 --routing-config AdditionalVersionWeights=?{?"13?":0.10?} --output json
$watch
$watch
$watch
aws lambda update-alias --function-name axum-xray-otel --region eu-west-1 --name live --function-version 13 --routing-config AdditionalVersionWeights=?{?} --output json
EOF
}

test_lambda_canary_rolls_back_and_fails_when_an_alarm_fires() {
  firing_alarm 3
  run_canary
  assert_status 1
  assert_stdout ""
  assert_stderr_has 'deploy-lambda.sh: alarm fired during the canary: fn-5xx-rate; rolled alias live back to version 12 (version 13 is left unused)'
  tail -n 1 "$T/state/calls.log" | grep -qF -- '--function-version 12 --routing-config AdditionalVersionWeights=\{\}' ||
    fail "last call is not the rollback: $(tail -n 1 "$T/state/calls.log")"
  [[ "$(grep -c 'describe-alarms' "$T/state/calls.log")" == 3 ]] || fail "expected 3 alarm reads"
  if grep -q -- '--function-version 13' "$T/state/calls.log"; then fail "the alias was moved to the new version"; fi
}

test_lambda_canary_does_not_start_while_an_alarm_fires() {
  firing_alarm 1
  run_canary
  assert_status 1
  assert_stderr_has 'alarm already firing before the canary: fn-5xx-rate; nothing shifted'
  if grep -q 'update-alias' "$T/state/calls.log"; then fail "the alias was moved"; fi
}

test_lambda_canary_does_not_start_when_the_alarms_cannot_be_read() {
  echo 254 >"$T/fixtures/cloudwatch-describe-alarms.exit"
  run_canary
  assert_status 1
  assert_stderr_has 'cannot read alarms fn-5xx-rate,fn-p99-latency; nothing shifted'
  if grep -q 'update-alias' "$T/state/calls.log"; then fail "the alias was moved"; fi
}

# The per-version alarm as describe-alarms returns it (state fields included), on version 12.
version_alarm() {
  cat >"$T/fixtures/cloudwatch-describe-alarms.1.json" <<'JSON'
{"MetricAlarms": [{"AlarmName": "fn-live-version-errors", "AlarmArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:fn-live-version-errors",
  "StateValue": "ALARM", "StateReason": "old", "ActionsEnabled": true, "OKActions": [], "AlarmActions": [],
  "InsufficientDataActions": [], "EvaluationPeriods": 3, "DatapointsToAlarm": 2, "Threshold": 5.0,
  "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
  "Metrics": [{"Id": "rate", "Expression": "100 * errors / invocations", "ReturnData": true},
    {"Id": "errors", "ReturnData": false, "MetricStat": {"Stat": "Sum", "Period": 60, "Metric": {"Namespace": "AWS/Lambda",
      "MetricName": "Errors", "Dimensions": [{"Name": "FunctionName", "Value": "fn"},
      {"Name": "Resource", "Value": "fn:live"}, {"Name": "ExecutedVersion", "Value": "12"}]}}}]}],
 "CompositeAlarms": []}
JSON
}

test_lambda_canary_points_the_version_alarm_at_the_new_version_first() {
  version_alarm
  run_script deploy-lambda.sh --zip "$T/bootstrap.zip" --alarms fn-5xx-rate,fn-live-version-errors \
    --version-alarms fn-live-version-errors --checks 1 --interval 0
  assert_status 0
  assert_stdout 13
  assert_stderr_has 'alarm fn-live-version-errors now watches version 13'
  local put="$T/state/cloudwatch-put-metric-alarm.input.json"
  [[ "$(jq -c '[.Metrics[1].MetricStat.Metric.Dimensions[] | .Value]' "$put")" == '["fn","fn:live","13"]' ]] ||
    fail "put-metric-alarm dimensions: $(jq -c . "$put")"
  [[ "$(jq -r '[.AlarmName, .Threshold, .TreatMissingData, has("StateValue"), has("AlarmArn")] | join(" ")' "$put")" == \
    "fn-live-version-errors 5 notBreaching false false" ]] || fail "put-metric-alarm definition: $(jq -c . "$put")"
  grep -n 'cloudwatch\|update-alias' "$T/state/calls.log" | cut -d' ' -f2-4 | paste -sd, >"$T/state/order"
  [[ "$(cat "$T/state/order")" == "cloudwatch describe-alarms --region,cloudwatch put-metric-alarm --region,cloudwatch set-alarm-state --region,cloudwatch describe-alarms --region,lambda update-alias --function-name,cloudwatch describe-alarms --region,lambda update-alias --function-name" ]] ||
    fail "calls in this order expected: retarget, reset, check, shift, check, promote; got $(cat "$T/state/order")"
}

test_lambda_canary_refuses_a_version_alarm_it_does_not_watch() {
  run_script deploy-lambda.sh --zip "$T/bootstrap.zip" --alarms fn-5xx-rate --version-alarms fn-live-version-errors
  assert_status 2
  assert_stderr_has '--version-alarms fn-live-version-errors is not one of --alarms'
  if grep -q 'lambda ' "$T/state/calls.log" 2>/dev/null; then fail "the function was touched"; fi
}

test_lambda_canary_stops_when_the_version_alarm_has_no_version_dimension() {
  printf '%s\n' '{"MetricAlarms": [{"AlarmName": "fn-5xx-rate", "Namespace": "AWS/Lambda", "MetricName": "Errors",
    "Dimensions": [{"Name": "FunctionName", "Value": "fn"}], "Statistic": "Sum", "Period": 60,
    "EvaluationPeriods": 1, "Threshold": 1, "ComparisonOperator": "GreaterThanThreshold"}], "CompositeAlarms": []}' \
    >"$T/fixtures/cloudwatch-describe-alarms.1.json"
  run_script deploy-lambda.sh --zip "$T/bootstrap.zip" --alarms fn-5xx-rate --version-alarms fn-5xx-rate
  assert_status 1
  assert_stderr_has 'cannot point alarm fn-5xx-rate at version 13; nothing shifted'
  if grep -q 'update-alias\|put-metric-alarm' "$T/state/calls.log"; then fail "the alias or the alarm was changed"; fi
}

# --- smoke-test.sh ---

test_smoke_passes_against_a_healthy_service() {
  start_server "$healthy_routes"
  run_script smoke-test.sh --interval 0 "http://127.0.0.1:$port/"
  assert_status 0
  assert_stderr_has "passed: http://127.0.0.1:$port/health and http://127.0.0.1:$port/api/users/1 (attempt 1/10)"
  [[ "$(jq -r .path "$T/requests.log" | paste -sd ' ')" == "/health /api/users/1" ]] ||
    fail "requests: $(jq -r .path "$T/requests.log")"
}

test_smoke_retries_while_the_deployment_settles() {
  start_server '{"/health": [{"status": 503, "body": "starting"}, {"status": 502, "body": ""},
    {"status": 200, "body": {"status": "ok"}}],
    "/api/users/1": [{"status": 200, "body": {"id": 1, "name": "User 1", "email": "user1@example.com"}}]}'
  run_script smoke-test.sh --attempts 3 --interval 0 "http://127.0.0.1:$port"
  assert_status 0
  assert_stderr_has 'attempt 1/3: GET /health returned HTTP 503'
  assert_stderr_has 'attempt 2/3: GET /health returned HTTP 502'
  assert_stderr_has '(attempt 3/3)'
}

test_smoke_fails_after_the_last_attempt_on_a_wrong_body() {
  start_server '{"/health": [{"status": 200, "body": {"status": "ok"}}],
    "/api/users/1": [{"status": 200, "body": {"message": "user not found"}}]}'
  run_script smoke-test.sh --attempts 2 --interval 0 "http://127.0.0.1:$port"
  assert_status 1
  assert_stderr_has 'smoke-test.sh: failed after 2 attempts: GET /api/users/1 returned an unexpected body: {"message": "user not found"}'
  [[ "$(grep -c '"/api/users/1"' "$T/requests.log")" == 2 ]] || fail "expected exactly 2 attempts"
}

test_smoke_sigv4_signs_for_lambda_with_the_session_token() {
  start_server "$healthy_routes"
  vars+=(AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
    AWS_SESSION_TOKEN=FwoGZXIvYXdzEXAMPLETOKEN)
  run_script smoke-test.sh --sigv4 --interval 0 "http://127.0.0.1:$port"
  assert_status 0
  jq_assert "$T/requests.log" "request not signed for lambda in eu-west-1" 'all(.[]; .headers.Authorization
    | test("^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/[0-9]{8}/eu-west-1/lambda/aws4_request, SignedHeaders=[a-z0-9;-]*x-amz-date[a-z0-9;-]*, Signature=[0-9a-f]{64}$"))' --slurp
  jq_assert "$T/requests.log" "session token missing" \
    'length == 2 and all(.[]; .headers["x-amz-security-token"] == "FwoGZXIvYXdzEXAMPLETOKEN")' --slurp
}

test_smoke_sigv4_without_credentials_says_so() {
  run_script smoke-test.sh --sigv4 http://127.0.0.1:9
  assert_status 1
  assert_stderr_has 'smoke-test.sh: --sigv4 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY'
}

test_smoke_dry_run_sends_nothing() {
  start_server "$healthy_routes"
  run_script smoke-test.sh --dry-run "http://127.0.0.1:$port"
  assert_status 0
  assert_stderr_has "dry-run: curl --silent --show-error --max-time 10 --header accept:\\ application/json http://127.0.0.1:$port/health"
  [[ ! -s "$T/requests.log" ]] || fail "requests were sent: $(cat "$T/requests.log")"
}

# --- all scripts ---

test_every_script_has_help_and_rejects_unknown_flags() {
  local script
  for script in build-lambda-zip.sh build-push-image.sh deploy-fargate.sh deploy-lambda.sh smoke-test.sh; do
    run_script "$script" --help
    assert_status 0
    grep -q "^Usage: $script " "$T/out" || fail "$script --help prints no usage: $(cat "$T/out")"
    run_script "$script" --no-such-flag
    assert_status 2
    assert_stderr_has "$script: unknown argument: --no-such-flag"
    assert_stderr_has "Try '$script --help'."
  done
  assert_calls </dev/null
}

test_a_flag_without_its_value_is_a_usage_error() {
  run_script deploy-fargate.sh --image
  assert_status 2
  assert_stderr_has 'deploy-fargate.sh: --image needs a value'
}

# --- runner ---

# Fresh directory per test: fakes on PATH, a copy of the fixtures, default settings.
setup() {
  mkdir -p "$T/bin" "$T/state" "$T/tmp" "$T/fixtures"
  cp "$here"/fakes/* "$T/bin/"
  cp "$here"/fixtures/* "$T/fixtures/"
  : >"$T/Dockerfile"
  : >"$T/bootstrap.zip"
  vars=(AWS_REGION=eu-west-1 ECR_REPOSITORY_URL="$repo_url" ECS_CLUSTER=axum-xray-otel
    ECS_SERVICE=axum-xray-otel LAMBDA_FUNCTION=axum-xray-otel)
}

passed=0
failed=0
# In the order they are written.
mapfile -t tests < <(grep -oE '^test_[a-z0-9_]+' "${BASH_SOURCE[0]}")
for name in "${tests[@]}"; do
  T="$root/$name"
  mkdir "$T"
  set +e
  (
    set -euo pipefail
    setup
    "$name"
  ) >"$T/log" 2>&1
  result=$?
  set -e
  if ((result == 0)); then
    passed=$((passed + 1))
    printf 'ok   %s\n' "${name#test_}"
  else
    failed=$((failed + 1))
    printf 'FAIL %s\n' "${name#test_}"
    sed 's/^/     /' "$T/log"
  fi
done
printf '%d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
