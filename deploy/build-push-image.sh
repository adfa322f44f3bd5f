#!/usr/bin/env bash
# Builds the container image with docker buildx, pushes it to ECR under the commit SHA
# and prints the pushed image's digest reference (repo@sha256:...). The two halves also run
# apart, so the job that builds holds no AWS credentials and the one that pushes runs no
# build: --output builds into an OCI archive only, --archive pushes such an archive only.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
Usage: $PROG [--repository-url URL] [--tag SHA] [--platform PLATFORM] [--file DOCKERFILE]
       [--output ARCHIVE | --archive ARCHIVE --digest DIGEST] [--dry-run]

Logs docker in to ECR (aws ecr get-login-password | docker login), builds the
Dockerfile with docker buildx for one platform, pushes it as URL:SHA and prints
the digest reference URL@sha256:... on stdout. Deploy that digest, not the tag.
When URL:SHA exists already (tags are immutable), prints its digest and builds nothing.

Split in two (what the deploy workflow does):
  --output ARCHIVE    build only, into an OCI archive (docker buildx --output type=oci);
                      no AWS call, no registry. Prints the image digest (sha256:...).
  --archive ARCHIVE --digest DIGEST
                      push only: copy that archive to URL:SHA with skopeo, digests
                      preserved (skopeo login with the ECR password), and fail unless the
                      registry's digest is DIGEST. URL:SHA pushed before must hold DIGEST.
                      Prints URL@DIGEST.

Options:
  --repository-url URL  ECR repository URL, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/axum-xray-otel
  --tag SHA             image tag: a git commit SHA (default: HEAD of a clean work tree).
                        Tags are immutable; 'latest' and other names are refused.
  --platform PLATFORM   buildx platform (default linux/arm64)
  --region REGION       region of the ECR login when the URL names none (default \$AWS_REGION)
  --file DOCKERFILE     Dockerfile to build (default: <repo>/Dockerfile)
  --output ARCHIVE      build into this OCI archive only (see above)
  --archive ARCHIVE     push this OCI archive only (see above); needs --digest
  --digest DIGEST       the digest --output printed for ARCHIVE
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
output=""
archive=""
expected_digest=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --repository-url) repository_url="$(flag_value "$@")"; shift ;;
    --tag) tag="$(flag_value "$@")"; shift ;;
    --platform) platform="$(flag_value "$@")"; shift ;;
    --region) region="$(flag_value "$@")"; shift ;;
    --file) dockerfile="$(flag_value "$@")"; shift ;;
    --output) output="$(flag_value "$@")"; shift ;;
    --archive) archive="$(flag_value "$@")"; shift ;;
    --digest) expected_digest="$(flag_value "$@")"; shift ;;
    --dry-run) DRY_RUN=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument: $1" ;;
  esac
  shift
done

mode=build-push
[[ -z "$output" ]] || mode=build
if [[ -n "$archive" ]]; then
  [[ "$mode" == build-push ]] || usage_error "--output and --archive exclude each other"
  mode=push
  [[ "$expected_digest" =~ ^sha256:[0-9a-f]{64}$ ]] || usage_error "--archive needs --digest sha256:<64 hex digits>"
elif [[ -n "$expected_digest" ]]; then
  usage_error "--digest goes with --archive"
fi

case "$mode" in
  build) require_cmd docker jq ;;
  push) require_cmd aws skopeo jq ;;
  *) require_cmd aws docker jq ;;
esac
if [[ "$mode" != build ]]; then
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
fi

if [[ -z "$tag" ]]; then
  require_cmd git
  tag="$(git -C "$REPO_ROOT" rev-parse HEAD)" || die "cannot read the commit SHA; pass --tag"
  # An image tagged with a commit must contain exactly that commit.
  [[ -z "$(git -C "$REPO_ROOT" status --porcelain --untracked-files=no)" ]] ||
    die "the work tree has uncommitted changes, so HEAD does not describe the image; commit or pass --tag"
fi
[[ "$tag" =~ ^[0-9a-f]{7,40}$ ]] || die "the image tag must be a git commit SHA (immutable), got '$tag'"
if [[ "$mode" == push ]]; then
  [[ -f "$archive" ]] || die "image archive not found: $archive (build it with --output)"
else
  [[ -f "$dockerfile" ]] || die "Dockerfile not found: $dockerfile"
fi

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
metadata="$workdir/metadata.json"

if [[ "$mode" == build ]]; then
  log "building $tag for $platform into $output"
  run docker buildx build \
    --platform "$platform" \
    --file "$dockerfile" \
    --label "org.opencontainers.image.revision=$tag" \
    --metadata-file "$metadata" \
    --output "type=oci,dest=$output" \
    "$REPO_ROOT" >&2
  [[ "$DRY_RUN" == 1 ]] && exit 0
  digest="$(jq -r '."containerimage.digest" // empty' "$metadata")"
  [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || die "buildx did not report the image digest (metadata: $(cat "$metadata"))"
  printf '%s\n' "$digest"
  exit 0
fi

# Tags are immutable: a commit pushed before (a re-run, a second environment) is deployed
# as it is instead of rebuilt, which the registry would refuse anyway.
if existing="$(aws ecr describe-images --repository-name "${repository_url#*/}" --image-ids "imageTag=$tag" \
  --region "$region" --output json 2>"$workdir/describe-images.err")"; then
  digest="$(jq -r '.imageDetails[0].imageDigest // empty' <<<"$existing")"
  [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || die "aws ecr describe-images returned no digest for $repository_url:$tag"
  if [[ "$mode" == push && "$digest" != "$expected_digest" ]]; then
    die "$repository_url:$tag holds $digest, not the built $expected_digest; nothing pushed"
  fi
  log "$repository_url:$tag was pushed before; deploying that image instead of building it again"
  printf '%s@%s\n' "$repository_url" "$digest"
  exit 0
fi
describe_error="$(<"$workdir/describe-images.err")"
describe_error="${describe_error#$'\n'}"
[[ "$describe_error" == *ImageNotFoundException* ]] || die "aws ecr describe-images failed: $describe_error"

# docker pushes what it builds; skopeo pushes an archive with its digests unchanged.
client=docker
[[ "$mode" == push ]] && client=skopeo
log "logging in to $registry"
if [[ "$DRY_RUN" == 1 ]]; then
  printf 'dry-run: %s | %s\n' "$(quote_cmd aws ecr get-login-password --region "$region")" \
    "$(quote_cmd "$client" login --username AWS --password-stdin "$registry")" >&2
else
  # The password travels through the pipe only, never through argv or a file.
  aws ecr get-login-password --region "$region" |
    "$client" login --username AWS --password-stdin "$registry" >&2 ||
    die "$client login to $registry failed"
fi

if [[ "$mode" == push ]]; then
  log "pushing $archive to $repository_url:$tag"
  # --all keeps the image index (with its attestations) whole; --preserve-digests fails
  # rather than change a digest.
  run skopeo copy --all --preserve-digests --digestfile "$workdir/digest" \
    "oci-archive:$archive" "docker://$repository_url:$tag" >&2
  [[ "$DRY_RUN" == 1 ]] && exit 0
  pushed="$(cat "$workdir/digest" 2>/dev/null || true)"
  [[ "$pushed" == "$expected_digest" ]] ||
    die "the registry holds $repository_url:$tag as '${pushed:-nothing}', not the built $expected_digest"
  printf '%s@%s\n' "$repository_url" "$pushed"
  exit 0
fi

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
