#!/usr/bin/env bash
# Installs the pinned tools of tests/tools.txt into a cached venv outside the repo
# (idempotent: the venv is keyed by the hash of that file) and prints its bin directory.
# Also installs DynamoDB Local (AWS's own engine, for tests/dynamodb.rs) into
# $cache/dynamodb-local, and Debian's JRE to run it when java is missing (and the
# openssl command tests/tls.rs uses, when missing), and Debian's PostgreSQL server for
# tests/database.rs, its initdb and postgres linked into the venv's bin when not on the PATH.
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

# DynamoDB Local 1.25 ships inside this npm package (emulator/DynamoDBLocal.jar).
ddb_package="amplify-dynamodb-simulator@2.9.30"
ddb_sha256="3503ffac19f183407909fecdacf4db51ab1fdad1da7b2f177016670b2d80e4b9"
ddb_dir="$cache/dynamodb-local-${ddb_sha256:0:12}"
if [[ ! -f "$ddb_dir/.complete" ]]; then
  command -v npm >/dev/null || { echo "tools.sh: npm not found (Node >= 18 needed for DynamoDB Local)" >&2; exit 2; }
  echo "tools.sh: installing DynamoDB Local into $ddb_dir (first run only)" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$ddb_package" >/dev/null)
  tarball="$(echo "$tmp"/*.tgz)"
  echo "$ddb_sha256  $tarball" | sha256sum --check --quiet >&2
  tar -xzf "$tarball" -C "$tmp"
  rm -rf "$ddb_dir"
  mv "$tmp/package/emulator" "$ddb_dir"
  touch "$ddb_dir/.complete"
fi
ln -sfn "$ddb_dir" "$cache/dynamodb-local"

if ! command -v java >/dev/null; then
  echo "tools.sh: installing openjdk-17-jre-headless to run DynamoDB Local" >&2
  sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends openjdk-17-jre-headless >&2
fi
if ! command -v openssl >/dev/null; then
  # tests/tls.rs makes its test CA and certificate with the openssl command.
  echo "tools.sh: installing openssl" >&2
  sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends openssl >&2
fi
if ! command -v initdb >/dev/null || ! command -v postgres >/dev/null; then
  if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    echo "tools.sh: installing postgresql for tests/database.rs" >&2
    sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    $sudo apt-get update >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends postgresql >&2
  fi
  pg_bin="$(find /usr/lib/postgresql -path '*/bin/initdb' | sort -V | tail -n 1 | xargs dirname)"
  for tool in initdb postgres psql; do
    ln -sfn "$pg_bin/$tool" "$venv/bin/$tool"
  done
fi
echo "$venv/bin"
