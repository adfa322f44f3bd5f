#!/usr/bin/env bash
# Rolls an ECS Fargate service onto a new image digest: registers a task definition revision
# that differs from the running one only in the app container's image, points the service
# at it, waits until the service is stable, and prints the new task definition ARN.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
Usage: $PROG --image REPO@sha256:DIGEST [--cluster NAME] [--service NAME] [--container NAME]
       [--platform PLATFORM] [--region REGION] [--dry-run]

Copies the task definition the service runs now, replaces the image of the app
container with the given digest, registers it as a new revision, updates the
service to it, waits for 'services-stable' and checks that the new revision is
the one running (a deployment circuit breaker may have rolled it back).
Prints the new task definition ARN on stdout.

Options:
  --image REF           image digest reference from build-push-image.sh (tags are refused)
  --cluster NAME        ECS cluster name or ARN
  --service NAME        ECS service name
  --container NAME      app container name in the task definition (default app)
  --platform PLATFORM   platform the image was built for (linux/arm64 or linux/amd64); when
                        given, it must match the task definition's CPU architecture
  --region REGION       AWS region
  --dry-run             show the new task definition and the commands instead of running
                        register-task-definition, update-service and the wait
  -h, --help            show this help

Environment (flags win):
  IMAGE, ECS_CLUSTER, ECS_SERVICE, ECS_CONTAINER_NAME, IMAGE_PLATFORM, AWS_REGION
EOF
}

image="${IMAGE:-}"
cluster="${ECS_CLUSTER:-}"
service="${ECS_SERVICE:-}"
container="${ECS_CONTAINER_NAME:-app}"
platform="${IMAGE_PLATFORM:-}"
region="${AWS_REGION:-}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --image) image="$(flag_value "$@")"; shift ;;
    --cluster) cluster="$(flag_value "$@")"; shift ;;
    --service) service="$(flag_value "$@")"; shift ;;
    --container) container="$(flag_value "$@")"; shift ;;
    --platform) platform="$(flag_value "$@")"; shift ;;
    --region) region="$(flag_value "$@")"; shift ;;
    --dry-run) DRY_RUN=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument: $1" ;;
  esac
  shift
done

require_cmd aws jq
IMAGE="$image" ECS_CLUSTER="$cluster" ECS_SERVICE="$service" AWS_REGION="$region"
require_var AWS_REGION --region
require_var ECS_CLUSTER --cluster
require_var ECS_SERVICE --service
require_var IMAGE --image
[[ "$image" =~ ^[^@[:space:]]+@sha256:[0-9a-f]{64}$ ]] ||
  die "--image must be a digest reference (repo@sha256:<64 hex>) so the revision is immutable, got '$image'"

# Fields describe-task-definition returns but register-task-definition rejects.
readonly_fields='["taskDefinitionArn","revision","status","requiresAttributes","compatibilities","registeredAt","registeredBy","deregisteredAt"]'

# primary_task_definition JSON: the task definition of the service's PRIMARY deployment.
primary_task_definition() {
  jq -r '.services[0].deployments[]? | select(.status == "PRIMARY") | .taskDefinition' <<<"$1"
}

describe_service() {
  aws ecs describe-services --cluster "$cluster" --services "$service" --region "$region" --output json
}

services="$(describe_service)" || die "aws ecs describe-services failed for $service in $cluster"
[[ "$(jq -r '.services[0].status // empty' <<<"$services")" == ACTIVE ]] ||
  die "service $service not found (or not ACTIVE) in cluster $cluster"
current_arn="$(jq -r '.services[0].taskDefinition' <<<"$services")"
log "service $service runs $current_arn"

described="$(aws ecs describe-task-definition --task-definition "$current_arn" --include TAGS \
  --region "$region" --output json)" || die "aws ecs describe-task-definition failed for $current_arn"

jq -e --arg name "$container" 'any(.taskDefinition.containerDefinitions[]; .name == $name)' \
  <<<"$described" >/dev/null ||
  die "container '$container' not in $current_arn (containers: $(jq -r \
    '[.taskDefinition.containerDefinitions[].name] | join(", ")' <<<"$described")); pass --container"

# An image of the wrong architecture would only fail later, as tasks that exit at once.
if [[ -n "$platform" ]]; then
  case "$platform" in
    linux/arm64) wanted=ARM64 ;;
    linux/amd64) wanted=X86_64 ;;
    *) die "--platform must be linux/arm64 or linux/amd64, got '$platform'" ;;
  esac
  cpu="$(jq -r '.taskDefinition.runtimePlatform.cpuArchitecture // "X86_64"' <<<"$described")"
  [[ "$cpu" == "$wanted" ]] ||
    die "the image is $platform but $current_arn runs on $cpu; build for the task's architecture (IMAGE_PLATFORM) or change it in Terraform (cpu_architecture)"
fi

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
input="$workdir/task-definition.json"
jq --arg name "$container" --arg image "$image" --argjson readonly "$readonly_fields" '
  (.tags // []) as $tags
  | .taskDefinition
  | delpaths([$readonly[] | [.]])
  | .containerDefinitions |= map(if .name == $name then .image = $image else . end)
  | if ($tags | length) > 0 then .tags = $tags else . end
' <<<"$described" >"$input"

if [[ "$DRY_RUN" == 1 ]]; then
  log "task definition that would be registered:"
  jq . "$input" >&2
  new_arn="<new-task-definition-arn>"
  run aws ecs register-task-definition --cli-input-json "file://$input" --region "$region" --output json
else
  log "registering a new revision of $(jq -r .family "$input") with $image"
  new_arn="$(aws ecs register-task-definition --cli-input-json "file://$input" --region "$region" \
    --output json | jq -r '.taskDefinition.taskDefinitionArn')" || die "aws ecs register-task-definition failed"
  [[ "$new_arn" == arn:* ]] || die "register-task-definition returned no task definition ARN"
fi

log "updating service $service to $new_arn"
run aws ecs update-service --cluster "$cluster" --service "$service" --task-definition "$new_arn" \
  --region "$region" --output json >/dev/null
log "waiting for service $service to become stable"
run aws ecs wait services-stable --cluster "$cluster" --services "$service" --region "$region" ||
  die "service $service did not become stable within the waiter's 10 minutes; see its events"
[[ "$DRY_RUN" == 1 ]] && exit 0

# services-stable also succeeds after a circuit breaker rolled back to the old revision.
after="$(describe_service)" || die "aws ecs describe-services failed after the deployment"
running="$(primary_task_definition "$after")"
[[ "$running" == "$new_arn" ]] ||
  die "service $service is stable on $running, not $new_arn: the deployment was rolled back (see the service events)"
printf '%s\n' "$new_arn"
