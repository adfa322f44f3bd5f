#!/usr/bin/env bash
# Installs the pinned tools of tests/tools.txt into a cached venv outside the repo
# (idempotent: the venv is keyed by the hash of that file) and prints its bin directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pins="$here/tools.txt"
python="${PYTHON:-python3}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/axum-xray-otel"
hash="$(sha256sum "$pins" | cut -c1-12)"
venv="$cache/venv-$hash"

mkdir -p "$cache"
# Test binaries call this too, several at once: one installs, the others wait.
exec 9>"$cache/.tools.lock"
flock 9
if [[ ! -f "$venv/.complete" ]]; then
  command -v "$python" >/dev/null || { echo "tools.sh: $python not found (Python >= 3.11 needed)" >&2; exit 2; }
  echo "tools.sh: installing test tools into $venv (first run only)" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$pins" >&2
  touch "$venv/.complete"
fi
echo "$venv/bin"
