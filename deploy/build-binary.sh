#!/usr/bin/env bash
# Builds the axum-xray-otel release binary for one Rust target and copies it to a given path.
# The Dockerfile's build stage runs it (so Docker and CI build the same way); tests/checks/iac.sh
# runs it here for the host target.
set -euo pipefail

readonly bin_name="axum-xray-otel"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly repo

usage() {
  cat <<EOF
Usage: deploy/build-binary.sh [--target TRIPLE | --arch amd64|arm64] --output PATH [--dry-run]
       deploy/build-binary.sh [--target TRIPLE | --arch amd64|arm64] --prepare [--dry-run]

Builds the ${bin_name} release binary (cargo build --release --locked) for a Rust target
and copies it to PATH.

  --target TRIPLE  Rust target triple [env BUILD_TARGET; default: the host's, from rustc -vV]
  --arch ARCH      Docker architecture (TARGETARCH) instead of a triple:
                   amd64 -> x86_64-unknown-linux-gnu, arm64 -> aarch64-unknown-linux-gnu
  --output PATH    where to put the binary [env BUILD_OUTPUT]
  --prepare        only add the target to rustup (a cacheable Docker layer before the sources)
  --dry-run        print the commands instead of running them
  -h, --help       show this help

A target missing from rustup is added, as cargo-lambda does. For a cross build (target CPU
differs from the host's) <cpu>-linux-gnu-gcc becomes linker and C compiler unless
CARGO_TARGET_<TRIPLE>_LINKER is already set. CARGO_TARGET_DIR is honoured.
EOF
}

die() {
  echo "build-binary.sh: $*" >&2
  exit 1
}

usage_error() {
  echo "build-binary.sh: $*" >&2
  usage >&2
  exit 2
}

dry_run=false
# Prints the command shell-quoted in dry-run mode, runs it otherwise.
run() {
  if [[ "$dry_run" == true ]]; then
    printf '+'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}

arch_to_triple() {
  case "$1" in
    amd64 | x86_64) echo "x86_64-unknown-linux-gnu" ;;
    arm64 | aarch64) echo "aarch64-unknown-linux-gnu" ;;
    *) usage_error "unsupported --arch '$1' (amd64 or arm64)" ;;
  esac
}

host_triple() {
  command -v rustc >/dev/null || die "rustc not found: install Rust (https://rustup.rs) or pass --target"
  rustc -vV | sed -n 's/^host: //p'
}

target="${BUILD_TARGET:-}"
output="${BUILD_OUTPUT:-}"
prepare=false
while (($# > 0)); do
  case "$1" in
    -h | --help)
      usage
      exit 0
      ;;
    --target)
      (($# >= 2)) || usage_error "--target needs a value"
      target="$2"
      shift 2
      ;;
    --arch)
      (($# >= 2)) || usage_error "--arch needs a value"
      target="$(arch_to_triple "$2")"
      shift 2
      ;;
    --output)
      (($# >= 2)) || usage_error "--output needs a value"
      output="$2"
      shift 2
      ;;
    --prepare)
      prepare=true
      shift
      ;;
    --dry-run)
      dry_run=true
      shift
      ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
done

host="$(host_triple)"
target="${target:-$host}"
[[ "$target" =~ ^[a-z0-9_]+(-[a-z0-9_]+){2,3}$ ]] || usage_error "'$target' is not a target triple"
[[ "$prepare" == true || -n "$output" ]] || usage_error "--output (or BUILD_OUTPUT) is required"

# Cross builds need the target's linker and, for ring's C and assembly, its C compiler.
target_cpu="${target%%-*}"
if [[ "$target_cpu" != "${host%%-*}" && "$target" == *-linux-gnu ]]; then
  triple_var="$(tr '[:lower:]-' '[:upper:]_' <<<"$target")"
  linker_var="CARGO_TARGET_${triple_var}_LINKER"
  if [[ -z "${!linker_var:-}" ]]; then
    cross_gcc="${target_cpu}-linux-gnu-gcc"
    command -v "$cross_gcc" >/dev/null || [[ "$dry_run" == true ]] ||
      die "cross build to $target needs $cross_gcc (Debian: apt-get install gcc-${target_cpu//_/-}-linux-gnu)"
    run export "$linker_var=$cross_gcc" "CC_${target//-/_}=$cross_gcc"
  fi
fi

if command -v rustup >/dev/null && ! rustup target list --installed | grep -qxF "$target"; then
  run rustup target add "$target"
fi
[[ "$prepare" == true ]] && exit 0

run cargo build --manifest-path "$repo/Cargo.toml" --release --locked --target "$target" --bin "$bin_name"
run install -D -m 0755 "${CARGO_TARGET_DIR:-$repo/target}/$target/release/$bin_name" "$output"
[[ "$dry_run" == true ]] || echo "build-binary.sh: $bin_name for $target -> $output" >&2
