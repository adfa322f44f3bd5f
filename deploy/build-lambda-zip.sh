#!/usr/bin/env bash
# Builds the Lambda deployment zip with cargo-lambda and prints its path.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
Usage: $PROG [--arm64 | --x86-64] [--dry-run]

Builds the release Lambda zip with
  cargo lambda build --release --arm64 --output-format zip
and prints the zip's absolute path on stdout
(\$CARGO_TARGET_DIR/lambda/axum-xray-otel/bootstrap.zip, target/ by default).

Options:
  --arm64      build for Graviton (aarch64-unknown-linux-gnu); the default
  --x86-64     build for x86_64-unknown-linux-gnu
  --dry-run    print the build command instead of running it
  -h, --help   show this help

Environment:
  LAMBDA_ARCH       arm64 | x86_64, same as the flags (default arm64)
  CARGO_TARGET_DIR  cargo's target directory (default: <repo>/target)

Needs cargo and cargo-lambda (pip install cargo-lambda==1.9.2, which brings zig
for the cross build); see docs/deploy.md.
EOF
}

arch="${LAMBDA_ARCH:-arm64}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --arm64) arch=arm64 ;;
    --x86-64) arch=x86_64 ;;
    --dry-run) DRY_RUN=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument: $1" ;;
  esac
  shift
done

case "$arch" in
  arm64) arch_flag=--arm64 ;;
  x86_64 | x86-64) arch_flag=--x86-64 ;;
  *) die "LAMBDA_ARCH must be arm64 or x86_64, got '$arch'" ;;
esac

target_dir="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
zip="$target_dir/lambda/axum-xray-otel/bootstrap.zip"

require_cmd cargo
command -v cargo-lambda >/dev/null 2>&1 ||
  die "cargo-lambda is required but was not found on PATH (pip install cargo-lambda==1.9.2)"

cd "$REPO_ROOT"
run cargo lambda build --release "$arch_flag" --output-format zip
[[ "$DRY_RUN" == 1 ]] && exit 0

[[ -f "$zip" ]] || die "cargo lambda build succeeded but $zip is missing"
printf '%s\n' "$zip"
