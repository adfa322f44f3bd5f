#!/usr/bin/env bash
# cargo-deny against deny.toml: licenses, bans (duplicate versions, wildcards) and sources.
# cargo-deny is installed once with `cargo install --locked` into a cache outside the repo
# (about 4-8 minutes on 2 cores, the first time only). Advisories need the network and run
# as `cargo audit` in CI instead. `cargo fetch` fills the registry cache for every platform
# in Cargo.lock (cargo metadata needs them); after that the check runs offline.
# Usage: tests/checks/deny.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

version="0.20.2"
root="${XDG_CACHE_HOME:-$HOME/.cache}/axum-xray-otel/cargo-deny-$version"
deny="$root/bin/cargo-deny"

if [[ ! -x "$deny" ]]; then
  echo "deny.sh: installing cargo-deny $version into $root (first run only)" >&2
  # Its release profile is fat LTO in one unit; a check that reads a lock file does not
  # need that, and a cold clone waits minutes less without it.
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo install cargo-deny --version "$version" --locked --root "$root" --quiet
fi

cargo fetch --locked --quiet
if "$deny" deny --offline --locked check licenses bans sources; then
  echo "cargo-deny: licenses, bans and sources ok"
else
  echo "cargo-deny: FAILED (see above)"
  exit 1
fi
