#!/usr/bin/env bash
# Benchmarks the release binary (HTTP load with and without tracing or metrics, against
# bare axum and the FastAPI peer; a flood at 10,000 req/s counting dropped spans;
# start-up; Lambda init and invocations; artifact sizes; what the AWS SDK costs
# against DynamoDB Local; the middleware in process; a clean release build) and
# writes BENCHMARKS.md. Takes about 35 minutes.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: bench/run.sh [-h|--help]

Builds release binaries, measures them on this machine (servers on CPU 0,
load generator on CPU 1) and writes BENCHMARKS.md at the repository root.
Installs what it needs: wrk (apt-get), oha (cargo install, cached in
${XDG_CACHE_HOME:-$HOME/.cache}/axum-xray-otel/oha), cargo-lambda (tests/tools.sh).

Environment: BENCH_ROUNDS [3], BENCH_SECONDS [8] per closed-loop and fixed-rate
run, BENCH_WARMUP [2], BENCH_FLOOD_RATE [10000] req/s and BENCH_FLOOD_SECONDS [60]
of the flood (one fixed-rate run with full tracing, `oha -q RATE -z SECONDS`,
spans received and the SDK's drop count against requests sent),
BENCH_INVOCATIONS [1000] Lambda invocations,
BENCH_COLD_STARTS [20], BENCH_STARTS [20] HTTP start-ups, BENCH_DDB_REQUESTS [2000]
per store for the DynamoDB CPU figure, BENCH_CLEAN_BUILD [1] (0 skips the clean
release build, which compiles every crate again in a scratch target directory),
BENCH_BASELINE [unset] a release binary of another commit, measured beside full
tracing in the same run (the "before" of a change).
The FastAPI peer is measured when ../shared/bench/peer-fastapi exists.
USAGE
}

case "${1:-}" in
    "") ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
esac

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/axum-xray-otel"
out="$repo/target/bench"
mkdir -p "$out" "$cache"

if [[ "$(nproc --all)" -lt 2 ]]; then
    echo "bench: needs 2 CPUs (server and load generator on different cores)" >&2
    exit 1
fi

# ---- tools, installed once ----
as_root() { if [[ "$(id -u)" == 0 ]]; then "$@"; else sudo "$@"; fi; }
if ! command -v wrk >/dev/null || ! command -v taskset >/dev/null; then
    as_root apt-get update -qq
    as_root apt-get install -y -qq wrk util-linux >/dev/null
fi
oha="$cache/oha/bin/oha"
if [[ ! -x "$oha" ]]; then
    echo "bench: installing oha into $cache/oha (about 8 minutes, once)" >&2
    cargo install oha --locked --root "$cache/oha"
fi
peer="$repo/../shared/bench/peer-fastapi"
peer_args=()
if [[ -x "$peer/start" ]]; then
    "$peer/start" --venv >/dev/null # builds its venv outside the measurements
    peer_args=(--peer "$peer")
else
    echo "bench: $peer not found, skipping the FastAPI peer"
fi

# ---- builds (before measuring, so the machine is quiet then) ----
if [[ "${BENCH_CLEAN_BUILD:-1}" == 1 ]]; then
    # Every crate from scratch, as CI and the Docker build do without a cache.
    rm -rf "$out/clean-target"
    started="$(date +%s)"
    CARGO_TARGET_DIR="$out/clean-target" cargo build --release --locked --bin axum-xray-otel
    echo "{\"clean_release_build_s\": $(($(date +%s) - started)), \"cpus\": $(nproc)}" >"$out/build.json"
    rm -rf "$out/clean-target"
fi
cargo build --release --bin axum-xray-otel --example bare_axum --example otlp_sink
cargo bench --bench startup --no-run
cargo bench --bench dynamodb --no-run
cargo bench --bench middleware --profile microbench --no-run
# The nearest Rust peer of the Lambda target (its own lock file and target directory).
cargo build --release --locked --manifest-path bench/peer-otel-lite/Cargo.toml \
    --target-dir "$repo/target/peer-otel-lite"
tools_bin="$(bash tests/tools.sh)"
PATH="$tools_bin:$PATH" cargo lambda build --release --output-format zip

# ---- measurements ----
BENCH_BARE_BIN="$repo/target/release/examples/bare_axum" \
    BENCH_PEER_OTEL_LITE="$repo/target/peer-otel-lite/release/peer-otel-lite" \
    cargo bench --bench startup >"$out/startup.jsonl"
# DynamoDB Local for the AWS SDK figures (tests/tools.sh installs it).
cargo bench --bench dynamodb >"$out/dynamodb.jsonl"
# The request path in process (the metrics' paired cost).
cargo bench --bench middleware --profile microbench >"$out/middleware.jsonl"
baseline_args=()
if [[ -n "${BENCH_BASELINE:-}" ]]; then
    baseline_args=(--baseline "$(realpath "$BENCH_BASELINE")")
fi
taskset -c 1 python3 bench/bench.py --repo "$repo" --oha "$oha" "${peer_args[@]}" "${baseline_args[@]}" \
    --startup "$out/startup.jsonl" --dynamodb "$out/dynamodb.jsonl" --middleware "$out/middleware.jsonl" --build "$out/build.json" --results "$out/load.json" --out "$repo/BENCHMARKS.md" \
    --rounds "${BENCH_ROUNDS:-3}" --seconds "${BENCH_SECONDS:-8}" --warmup "${BENCH_WARMUP:-2}" \
    --flood-rate "${BENCH_FLOOD_RATE:-10000}" --flood-seconds "${BENCH_FLOOD_SECONDS:-60}"

met="$(grep -c '| met |' BENCHMARKS.md || true)"
missed="$(grep -c '| \*\*missed\*\* |' BENCHMARKS.md || true)"
echo "bench: wrote BENCHMARKS.md: $met goals met, $missed missed"
