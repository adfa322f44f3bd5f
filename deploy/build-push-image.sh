#!/usr/bin/env bash
# Builds the container image with docker buildx, pushes it to ECR under the commit SHA
# and prints the pushed image's digest reference (repo@sha256:...).
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
Usage: $PROG [--repository-url URL] [--tag SHA] [--platform PLATFORM] [--file DOCKERFILE] [--dry-run]

Logs docker in to ECR (aws ecr get-login-password | docker login), builds the
Dockerfile with docker buildx for one platform, pushes it as URL:SHA and prints
the digest reference URL@sha256:... on stdout. Deploy that digest, not the tag.
When URL:SHA exists already (tags are immutable), prints its digest and builds nothing.

Options:
  --repository-url URL  ECR repository URL, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/axum-xray-otel
  --tag SHA             image tag: a git commit SHA (default: HEAD of a clean work tree).
                        Tags are immutable; 'latest' and other names are refused.
  --platform PLATFORM   buildx platform (default linux/arm64)
  --region REGION       region of the ECR login when the URL names none (default \$AWS_REGION)
  --file DOCKERFILE     Dockerfile to build (default: <repo>/Dockerfile)
  --dry-run             print the login, build and push commands instead of running them
  -h, --help            show this help

Environment (flags win):
  ECR_REPOSITORY_URL, IMAGE_TAG, IMAGE_PLATFORM
  AWS_REGION
EOF
}

repository_url="${ECR_REPOSITORY_URL:-}"
tag="${IMAGE_TAG:-}"
platform="${IMAGE_PLATFORM:-linux/arm64}"
region="${AWS_REGION:-}"
dockerfile="$REPO_ROOT/Dockerfile"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --repository-url) repository_url="$(flag_value "$@")"; shift ;;
    --tag) tag="$(flag_value "$@")"; shift ;;
    --platform) platform="$(flag_value "$@")"; shift ;;
    --region) region="$(flag_value "$@")"; shift ;;
    --file) dockerfile="$(flag_value "$@")"; shift ;;
    --dry-run) DRY_RUN=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument: $1" ;;
  esac
  shift
done

require_cmd aws docker jq
ECR_REPOSITORY_URL="$repository_url"
require_var ECR_REPOSITORY_URL --repository-url
[[ "$repository_url" == */* ]] || die "ECR_REPOSITORY_URL must look like <registry>/<name>, got '$repository_url'"
registry="${repository_url%%/*}"

# The login token is per region: take it from the registry host when it names one.
if [[ "$registry" =~ ^[0-9]{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$ ]]; then
  region="${BASH_REMATCH[1]}"
else
  AWS_REGION="$region"
  require_var AWS_REGION --region

fi

if [[ -z "$tag" ]]; then
  require_cmd git
  tag="$(git -C "$REPO_ROOT" rev-parse HEAD)" || die "cannot read the commit SHA; pass --tag"
  # An image tagged with a commit must contain exactly that commit.
  [[ -z "$(git -C "$REPO_ROOT" status --porcelain --untracked-files=no)" ]] ||
    die "the work tree has uncommitted changes, so HEAD does not describe the image; commit or pass --tag"
fi
[[ "$tag" =~ ^[0-9a-f]{7,40}$ ]] || die "the image tag must be a git commit SHA (immutable), got '$tag'"
[[ -f "$dockerfile" ]] || die "Dockerfile not found: $dockerfile"

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT

# Tags are immutable: a commit pushed before (a re-run, a second environment) is deployed
# as it is instead of rebuilt, which the registry would refuse anyway.
if existing="$(aws ecr describe-images --repository-name "${repository_url#*/}" --image-ids "imageTag=$tag" \
  --region "$region" --output json 2>"$workdir/describe-images.err")"; then
  digest="$(jq -r '.imageDetails[0].imageDigest // empty' <<<"$existing")"
  [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || die "aws ecr describe-images returned no digest for $repository_url:$tag"
  log "$repository_url:$tag was pushed before; deploying that image instead of building it again"
  printf '%s@%s\n' "$repository_url" "$digest"
  exit 0
fi
describe_error="$(<"$workdir/describe-images.err")"
describe_error="${describe_error#$'\n'}"
[[ "$describe_error" == *ImageNotFoundException* ]] || die "aws ecr describe-images failed: $describe_error"

log "logging in to $registry"
if [[ "$DRY_RUN" == 1 ]]; then
  printf 'dry-run: %s | %s\n' "$(quote_cmd aws ecr get-login-password --region "$region")" \
    "$(quote_cmd docker login --username AWS --password-stdin "$registry")" >&2
else
  # The password travels through the pipe only, never through argv or a file.
  aws ecr get-login-password --region "$region" |
    docker login --username AWS --password-stdin "$registry" >&2 ||
    die "docker login to $registry failed"
fi

metadata="$workdir/metadata.json"

log "building and pushing $repository_url:$tag for $platform"
run docker buildx build \
  --platform "$platform" \
  --file "$dockerfile" \
  --tag "$repository_url:$tag" \
  --label "org.opencontainers.image.revision=$tag" \
  --metadata-file "$metadata" \
  --push \
  "$REPO_ROOT" >&2
[[ "$DRY_RUN" == 1 ]] && exit 0

digest="$(jq -r '."containerimage.digest" // empty' "$metadata")"
[[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || die "buildx did not report the pushed image digest (metadata: $(cat "$metadata"))"
printf '%s@%s\n' "$repository_url" "$digest"
