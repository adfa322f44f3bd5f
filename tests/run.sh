#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the pinned test tools
# (tests/tools.sh, cached outside the repo), runs the offline checks of the
# deploy artefacts, then lint and the Rust tests.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

tools_bin="$(bash tests/tools.sh)"
export PATH="$tools_bin:$PATH"

# Each step says when it starts, in seconds since the suite began.
step() { printf '\n== %s (at %d s)\n' "$*" "$SECONDS"; }

step "terraform (fmt, tfcheck, checkov)"
bash tests/checks/terraform.sh
step "SAM, collector configs, Dockerfile, compose, Lambda zip"
bash tests/checks/iac.sh
step "workflows and deploy scripts"
bash tests/checks/workflows.sh
step "secure defaults"
bash tests/checks/security.sh
step "cargo deny (licenses, bans, sources)"
bash tests/checks/deny.sh

step "rustfmt"
cargo fmt --all --check
step "clippy"
cargo clippy --all-targets --locked -- -D warnings
step "rust tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked
else
  cargo test --locked
fi
step "cargo lambda watch and invoke (the README's local Lambda commands)"
bash tests/checks/lambda_local.sh
printf '\n== all passed in %d s\n' "$SECONDS"
