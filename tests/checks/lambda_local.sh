#!/usr/bin/env bash
# What the README promises for local Lambda runs: `cargo lambda watch` serves the function
# (its Runtime API emulator, on a free port here), plain HTTP reaches the routes through it,
# and `cargo lambda invoke --data-file` works with every event in deploy/events/.
# The watch process group is stopped by its PID on exit.
# Usage: tests/checks/lambda_local.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
tools_bin="$(bash tests/tools.sh)"
export PATH="$tools_bin:$PATH"
py="$tools_bin/python"

tmp="$(mktemp -d)"
watch_pid=""
cleanup() {
  if [[ -n "$watch_pid" ]]; then
    kill -TERM -- "-$watch_pid" 2>/dev/null || true
    wait "$watch_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

# Its own process group (setsid), so the cargo and function processes it starts stop with it.
setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --ignore-changes \
  --env-var OTEL_TRACES_EXPORTER=none --env-var USERS_LATENCY_MS=0 \
  --env-var RUST_LOG=warn >"$tmp/watch.log" 2>&1 &
watch_pid=$!

fail() {
  echo "lambda_local: FAIL: $*"
  echo "--- cargo lambda watch output:"
  tail -n 30 "$tmp/watch.log"
  exit 1
}

# The emulator listens at once and builds the function on the first request; curl retries
# refused connections for up to a minute, then waits for that build (--max-time).
status="$(curl -s -o "$tmp/body" -w '%{http_code}' --retry 60 --retry-delay 1 --retry-connrefused \
  --max-time 600 "http://127.0.0.1:$port/api/users/7")" || fail "no answer on port $port"
[[ "$status" == 200 ]] || fail "GET /api/users/7 through cargo lambda watch: $status $(cat "$tmp/body")"
"$py" - "$tmp/body" <<'EOF' || fail "unexpected body: $(cat "$tmp/body")"
import json, sys
body = json.load(open(sys.argv[1]))
assert body == {"id": 7, "name": "User 7", "email": "user7@example.com"}, body
EOF
echo "  GET /api/users/7 through cargo lambda watch: 200"

# Each event file is invoked as is; the function answers in the event source's own shape.
for event in deploy/events/*.json; do
  cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "$port" \
    --data-file "$event" axum-xray-otel >"$tmp/out.json" 2>"$tmp/invoke.err" ||
    fail "cargo lambda invoke $event: $(cat "$tmp/invoke.err")"
  "$py" - "$tmp/out.json" "$event" <<'EOF' || fail "cargo lambda invoke $event: $(cat "$tmp/out.json")"
import json, sys
out, event = json.load(open(sys.argv[1])), sys.argv[2]
sent = json.load(open(event))
path = sent.get("rawPath") or sent.get("path")
assert out.get("statusCode") == 200, out
body = json.loads(out["body"])
if "/api/users/" in path:
    assert body["id"] == int(path.rsplit("/", 1)[1]), body
elif path.endswith("/api/database"):
    assert len(body["results"]) == 2, body
else:
    assert body == {"status": "ok"}, body
print(f"  cargo lambda invoke {event} ({path}): 200 {out['body']}")
EOF
done
echo "lambda_local: cargo lambda watch and invoke OK"
