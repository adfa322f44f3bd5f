"""Load benchmark driver for bench/run.sh (stdlib only).

Runs, interleaved over several rounds, the HTTP target with full tracing and
export (traced), with OTEL_TRACES_EXPORTER=none (untraced), the bare axum floor
(bare) and the FastAPI + OpenTelemetry peer (fastapi, when its folder exists);
then one flood: full tracing at a fixed 10,000 req/s for 60 s, counting the
spans that arrive and the ones the SDK says it dropped. Servers run on CPU 0;
wrk, oha and the OTLP sink on CPU 1 (this script is started on CPU 1 by
run.sh). Then writes BENCHMARKS.md from these results, the start-up/Lambda
bench output and the artifact sizes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

ROUTES = ["/", "/api/users/42", "/api/database"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CPU = "0"
LOAD_CPU = "1"
CONNECTIONS = 64
RATE = 500
# Spans each request makes, read from the code (service) and the peer's README.
EXPECTED_SPANS = {
    "traced": {"/": 1, "/api/users/42": 2, "/api/database": 2},
    "fastapi": {"/": 3, "/api/users/42": 3, "/api/database": 3},
}
# The batch processors export at least every 5 s (OTEL_BSP_SCHEDULE_DELAY's default).
SETTLE_EXPORTING = 6.0
SETTLE_QUIET = 0.5


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15; fields[0] here is field 3.
    return int(fields[11]) + int(fields[12])


def thread_ticks(pid: int) -> dict[str, int]:
    """utime+stime per thread class (see thread_class)."""
    out: dict[str, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        out[thread_class(name)] = out.get(thread_class(name), 0) + int(fields[11]) + int(fields[12])
    return out


def thread_class(name: str) -> str:
    # Linux keeps 15 characters of a thread's name: "OpenTelemetry.T(races...)".
    if name.startswith(("tokio-rt-worker", "tokio-runtime")):
        return "workers"
    # The SDK's BatchSpanProcessor; "otel-spans" is the hand-written pipeline of
    # builds before the seventh pass (bench/history.md), as a BENCH_BASELINE.
    if name.startswith(("OpenTelemetry.T", "otel-spans")):
        return "span processor"
    if name.startswith("OpenTelemetry.M"):
        return "metrics reader"
    if name.startswith("reqwest-interna"):
        return "export HTTP"
    return "other"


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""
    except OSError:
        return 0, b""


# JSON log field (or pretty `key=value`) of the shutdown's span tally.
DROPPED_SPAN_COUNT = re.compile(r'spans_dropped_queue_full"?\s*[:=]\s*"?(\d+)')


class Process:
    """A child whose output is drained (and counted) by a thread."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str | None = None):
        self.proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines = 0
        self.emf_lines = 0  # CloudWatch EMF metric lines (the direct path's metrics)
        self.head: list[str] = []
        self.address: str | None = None
        self.ready = threading.Event()
        # The SDK's own drop reports: a line when its queue first overflows, and
        # the lifetime count at shutdown (opentelemetry_sdk's BatchSpanProcessor).
        self.dropping_started = False
        self.spans_dropped: int | None = None
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines += 1
            if '"_aws"' in line:
                self.emf_lines += 1
            if "span queue full" in line:
                self.dropping_started = True
            if '"spans lost"' in line or "spans lost" in line:
                count = DROPPED_SPAN_COUNT.search(line)
                self.spans_dropped = (self.spans_dropped or 0) + (int(count.group(1)) if count else 0)
            if len(self.head) < 20:
                self.head.append(line.rstrip())
            if self.address is None and '"listening"' in line:
                try:
                    self.address = json.loads(line)["address"]
                    self.ready.set()
                except (ValueError, KeyError):
                    pass

    @property
    def pid(self) -> int:
        return self.proc.pid

    def port(self, timeout: float = 30) -> int:
        if not self.ready.wait(timeout):
            raise RuntimeError(f"no listening line from {self.proc.args}: {self.head}")
        return int(self.address.rsplit(":", 1)[1])

    def stop(self, timeout: float = 30) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            code = None
        # The drop count is logged during shutdown: read the output to its end.
        self._drainer.join(5)
        return code

    def spans_dropped_total(self) -> int:
        """Spans the SDK dropped; at least 1 when it only said dropping started."""
        return self.spans_dropped if self.spans_dropped is not None else int(self.dropping_started)


def pinned(cpu: str, argv: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *argv]


def wrk(url: str, seconds: float) -> dict:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(g) for g in sock.groups()) if sock else 0
    )
    return {"requests": requests, "errors": errors,
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}


def oha(binary: str, url: str, seconds: float, rate: int = RATE) -> dict:
    out = subprocess.run(
        [binary, "-z", f"{seconds:g}s", "-c", str(CONNECTIONS), "-q", str(rate),
         "--latency-correction", "--no-tui", "--output-format", "json", url],
        capture_output=True, text=True, check=True,
    ).stdout
    data = json.loads(out)
    codes = data.get("statusCodeDistribution", {})
    ok = sum(n for code, n in codes.items() if code.startswith("2"))
    errors = sum(n for code, n in codes.items() if not code.startswith("2"))
    # Requests still in flight when -z ends are cut by oha itself, not failed.
    errors += sum(n for what, n in data.get("errorDistribution", {}).items()
                  if "deadline" not in what)
    pct = data["latencyPercentiles"]
    return {"requests": ok + errors, "errors": errors, "codes": codes,
            "p50_ms": pct["p50"] * 1e3, "p99_ms": pct["p99"] * 1e3,
            "p999_ms": pct["p99.9"] * 1e3}


# The receiver stands in for a collector, which has a CPU reservation of its own; sharing a core
# with wrk, which is always runnable, it sometimes waited 100 ms for it, and the app's span queue
# overflowed while it did (bench/history.md). Ahead of wrk it answers as a collector would.
SINK_NICE = -10


class Sink:
    def __init__(self, repo: Path):
        self.proc = Process(pinned(LOAD_CPU, [str(repo / "target/release/examples/otlp_sink")]),
                            {"PATH": os.environ["PATH"]})
        self.endpoint = f"http://127.0.0.1:{self.proc.port()}"
        try:
            os.setpriority(os.PRIO_PROCESS, self.proc.pid, SINK_NICE)
            self.nice = SINK_NICE
        except PermissionError:
            self.nice = 0

    def stats(self) -> dict:
        status, body = get(self.endpoint + "/stats")
        if status != 200:
            raise RuntimeError("the OTLP sink stopped answering")
        return json.loads(body)


# A binary from another commit (bench/run.sh's BENCH_BASELINE), measured as (a) is.
BASELINE: str | None = None


def server_argv(variant: str, repo: Path, peer: Path | None) -> list[str]:
    if variant == "baseline":
        return [BASELINE]
    if variant in ("traced", "direct", "untraced", "nometrics"):
        return [str(repo / "target/release/axum-xray-otel")]
    if variant == "bare":
        return [str(repo / "target/release/examples/bare_axum")]
    return [str(peer / "start")]


def common_env(sink: Sink) -> dict[str, str]:
    """What every server gets: no simulated latency, exports to the sink."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"),
           "USERS_LATENCY_MS": "0",
           "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint}
    if "XDG_CACHE_HOME" in os.environ:
        env["XDG_CACHE_HOME"] = os.environ["XDG_CACHE_HOME"]
    return env


def service_env(variant: str, sink: Sink) -> dict[str, str]:
    """The service's environment for a variant: traced, direct, untraced or nometrics."""
    env = common_env(sink) | {"PORT": "0", "APP_TARGET": "http"}
    if variant == "untraced":
        env["OTEL_TRACES_EXPORTER"] = "none"
    if variant == "direct":
        # As to the X-Ray OTLP endpoint: every export signed and gzipped (the sink
        # stands in for X-Ray and does not check signatures; tests/xray_direct.rs does).
        env.update(OTEL_EXPORTER_OTLP_TRACES_AUTH="sigv4", OTEL_EXPORTER_OTLP_COMPRESSION="gzip",
                   AWS_REGION="eu-west-1", AWS_ACCESS_KEY_ID="AKIABENCHMARK",
                   AWS_SECRET_ACCESS_KEY="bench/secret", AWS_SESSION_TOKEN="bench-token")
    if variant == "nometrics":
        env["OTEL_METRICS_EXPORTER"] = "none"
    return env


def start_server(variant: str, repo: Path, peer: Path | None, sink: Sink) -> tuple[Process, int]:
    if variant == "fastapi":
        port = free_port()
        env = common_env(sink) | {"HOST": "127.0.0.1", "PORT": str(port), "WORKERS": "1"}
    else:
        env = service_env(variant, sink)
    proc = Process(pinned(SERVER_CPU, server_argv(variant, repo, peer)), env)
    if variant != "fastapi":
        port = proc.port()
    deadline = time.monotonic() + 120
    while get(f"http://127.0.0.1:{port}/health", 1)[0] != 200:
        if proc.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{variant} did not start: {proc.head}")
        time.sleep(0.05)
    return proc, port


def measure_route(args, variant: str, pid: int, url: str, sink: Sink, exporting: bool) -> dict:
    settle = SETTLE_EXPORTING if exporting else SETTLE_QUIET
    spans0 = sink.stats()["spans"]
    warm = wrk(url, args.warmup)
    t0, threads0 = cpu_ticks(pid), thread_ticks(pid)
    closed = wrk(url, args.seconds)
    t1, threads1 = cpu_ticks(pid), thread_ticks(pid)
    # The closed loop's last spans are exported before the fixed-rate run starts,
    # so each run's delivery is counted on its own.
    time.sleep(settle)
    spans1, t1_fixed = sink.stats()["spans"], cpu_ticks(pid)
    fixed = oha(args.oha, url, args.seconds)
    time.sleep(settle)
    t2 = cpu_ticks(pid)
    spans2 = sink.stats()["spans"]
    return {
        "rps": closed["rps"],
        "cpu_us_closed": (t1 - t0) / CLK_TCK * 1e6 / max(closed["requests"], 1),
        "cpu_us_threads": {k: (v - threads0.get(k, 0)) / CLK_TCK * 1e6 / max(closed["requests"], 1)
                           for k, v in threads1.items()},
        "cpu_us_fixed": (t2 - t1_fixed) / CLK_TCK * 1e6 / max(fixed["requests"], 1),
        "cpu_share_fixed": (t2 - t1_fixed) / CLK_TCK / args.seconds,
        "p50_ms": fixed["p50_ms"], "p99_ms": fixed["p99_ms"], "p999_ms": fixed["p999_ms"],
        "errors": warm["errors"] + closed["errors"] + fixed["errors"],
        "requests": warm["requests"] + closed["requests"] + fixed["requests"],
        # Saturated (warm-up and closed loop) and at the fixed rate.
        "spans_per_request_closed": (spans1 - spans0) / max(warm["requests"] + closed["requests"], 1),
        "spans_per_request": (spans2 - spans1) / max(fixed["requests"], 1),
        "requests_fixed": fixed["requests"], "spans_fixed": spans2 - spans1,
    }


def flood(args, repo: Path, sink: Sink) -> dict:
    """Full tracing at a fixed rate far above the 500 req/s runs, on the route
    with the most spans: what arrives, and what the SDK says it dropped."""
    route = max(ROUTES, key=lambda r: EXPECTED_SPANS["traced"][r])
    proc, port = start_server("traced", repo, None, sink)
    try:
        spans0 = sink.stats()["spans"]
        t0 = cpu_ticks(proc.pid)
        load = oha(args.oha, f"http://127.0.0.1:{port}{route}", args.flood_seconds, args.flood_rate)
        t1 = cpu_ticks(proc.pid)
        hwm = status_kib(proc.pid, "VmHWM")
    finally:
        # SIGTERM: the SDK exports what it still holds and logs its drop count.
        exit_code = proc.stop()
    spans = sink.stats()["spans"] - spans0
    return {
        "variant": "flood", "route": route, "rate": args.flood_rate, "seconds": args.flood_seconds,
        "requests": load["requests"], "errors": load["errors"],
        "achieved_rps": load["requests"] / args.flood_seconds,
        "expected_spans": load["requests"] * EXPECTED_SPANS["traced"][route], "spans": spans,
        "spans_dropped": proc.spans_dropped_total(), "dropping_started": proc.dropping_started,
        "drop_count_logged": proc.spans_dropped is not None, "exit_code": exit_code,
        "cpu_us": (t1 - t0) / CLK_TCK * 1e6 / max(load["requests"], 1),
        "p50_ms": load["p50_ms"], "p99_ms": load["p99_ms"], "p999_ms": load["p999_ms"],
        "peak_rss_kib": hwm,
    }


def run_load(args, repo: Path, peer: Path | None) -> list[dict]:
    variants = ["traced", "direct", "nometrics", "untraced", "bare"] + (["fastapi"] if peer else [])
    if BASELINE:
        variants.append("baseline")
    sink = Sink(repo)
    results = []
    try:
        for round_no in range(1, args.rounds + 1):
            # Rotate the order so no variant always runs first or last.
            shift = (round_no - 1) % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                proc, port = start_server(variant, repo, peer, sink)
                idle_kib = status_kib(proc.pid, "VmRSS")
                try:
                    for route in ROUTES:
                        log(f"round {round_no}/{args.rounds} {variant} {route}")
                        r = measure_route(args, variant, proc.pid, f"http://127.0.0.1:{port}{route}",
                                          sink, variant in ("traced", "direct", "nometrics", "fastapi",
                                                            "baseline"))
                        r.update(round=round_no, variant=variant, route=route,
                                 log_lines_per_request=None, sink_nice=sink.nice)
                        results.append(r)
                    hwm = status_kib(proc.pid, "VmHWM")
                finally:
                    proc.stop()
                sent = sum(r["requests"] for r in results[-len(ROUTES):])
                for r in results[-len(ROUTES):]:
                    r.update(peak_rss_kib=hwm, idle_rss_kib=idle_kib,
                             log_lines_per_request=proc.lines / max(sent, 1),
                             spans_dropped=proc.spans_dropped_total())
        log(f"flood: {args.flood_rate} req/s for {args.flood_seconds:g} s, full tracing")
        results.append(flood(args, repo, sink))
        bad = sink.stats()["bad"]
        if bad:
            raise RuntimeError(f"the OTLP sink could not decode {bad} export requests")
    finally:
        sink.proc.stop()
    return results


# ---------------------------------------------------------------- report

NAMES = {"traced": "(a) full tracing and metrics, OTLP export",
         "direct": "(a'') full tracing, direct to X-Ray (SigV4 + gzip)",
         "nometrics": "(a') as (a) with OTEL_METRICS_EXPORTER=none",
         "untraced": "(b) OTEL_TRACES_EXPORTER=none",
         "bare": "(c) bare axum (floor)", "fastapi": "(d) FastAPI + OpenTelemetry peer",
         "baseline": "(e) BENCH_BASELINE's binary, as (a)"}


def spread(values: list[float], fmt: str = "{:.0f}") -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def pick(results: list[dict], variant: str, route: str | None, key: str) -> list[float]:
    return [r[key] for r in results
            if r["variant"] == variant and (route is None or r["route"] == route)]


def median_of(results, variant, route, key) -> float | None:
    values = pick(results, variant, route, key)
    return statistics.median(values) if values else None


def run_quiet(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "n/a"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def machine() -> str:
    mem = status_like("/proc/meminfo", "MemTotal") // 1024
    return f"{cpu_model()}, {os.cpu_count()} cores, {mem} MiB RAM, Linux {platform.release()}"


def status_like(path: str, key: str) -> int:
    for line in Path(path).read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def goal(rows: list, name: str, target: str, measured: str, met: bool | None, margin: str) -> None:
    verdict = "n/a" if met is None else ("met" if met else "**missed**")
    rows.append(f"| {name} | {target} | {measured} | {verdict} | {margin} |")


def write_report(args, results: list[dict], startup: list[dict], repo: Path, peer: Path | None) -> str:
    floods = [r for r in results if r["variant"] == "flood"]
    results = [r for r in results if r["variant"] != "flood"]
    variants = [v for v in NAMES if any(r["variant"] == v for r in results)]
    su = {s["server"]: s["ms"] for s in startup if s["kind"] == "startup"}
    lam = {s["exporter"]: s for s in startup if s["kind"] == "lambda"}
    binary = repo / "target/release/axum-xray-otel"
    zip_path = repo / "target/lambda/axum-xray-otel/bootstrap.zip"
    bin_mib = binary.stat().st_size / 2**20
    zip_mib = zip_path.stat().st_size / 2**20 if zip_path.exists() else None
    profile = re.search(r"\[profile\.release\]\n(.*?)(?:\n\n|\n\[)",
                        (repo / "Cargo.toml").read_text(), re.S)
    out = []
    w = out.append
    w("# Benchmarks\n")
    w(f"Generated by `bench/run.sh` on {datetime.date.today().isoformat()}. "
      "Re-run it to refresh this file; the numbers below are from one run on one machine. "
      "What was profiled and changed, pass by pass, is kept by hand in "
      "[bench/history.md](bench/history.md).\n")
    w(f"- Machine: {machine()}.")
    versions = [run_quiet(["rustc", "-V"]), f"axum-xray-otel {run_quiet([str(binary), '--version']).split()[-1]}",
                run_quiet(["wrk", "-v"]).splitlines()[0] if run_quiet(["wrk", "-v"]) else "wrk",
                run_quiet([args.oha, "--version"])]
    if peer:
        venv = run_quiet([str(peer / "start"), "--venv"])
        freeze = run_quiet([f"{venv}/bin/python", "-m", "pip", "freeze"]).splitlines()
        keep = ("fastapi==", "uvicorn==", "opentelemetry-sdk==", "opentelemetry-instrumentation-fastapi==")
        versions.append(run_quiet([f"{venv}/bin/python", "-V"]))
        versions += [f for f in freeze if f.startswith(keep)]
    w(f"- Versions: {', '.join(v for v in versions if v)}.")
    w(f"- Method: servers pinned to CPU {SERVER_CPU}, wrk/oha and the OTLP receiver "
      f"(`examples/otlp_sink.rs`, decodes every export; nice "
      f"{min((r.get('sink_nice', 0) for r in results), default=0)}, ahead of wrk as a collector "
      f"with its own CPU would be) to CPU {LOAD_CPU}; latencies 0. "
      f"{args.rounds} rounds, variants interleaved (order rotated each round), a fresh server per round; "
      f"per route: {args.warmup} s wrk warm-up, {args.seconds} s closed loop "
      f"(`wrk -t1 -c{CONNECTIONS}`), {args.seconds} s at a fixed {RATE} req/s "
      f"(`oha -c {CONNECTIONS} -q {RATE} --latency-correction`), each followed by a wait for the "
      f"batch exporter's last send ({SETTLE_EXPORTING:.0f} s; {SETTLE_QUIET:g} s for variants that "
      f"export nothing) so that spans and CPU are counted per run. CPU = utime+stime of the server from /proc/PID/stat ({1e3 / CLK_TCK:.0f} ms ticks); "
      "the fixed-rate reading includes that wait. Spans/request = spans the receiver decoded / "
      "requests sent (closed loop: warm-up included). Then one flood with full tracing: a fresh "
      "server, the fixed-rate run at a higher rate (below). Cells: median over rounds (min–max).\n")

    w("## HTTP target\n")
    for route in ROUTES:
        w(f"### `GET {route}`\n")
        w("| variant | req/s, 64 conns | CPU µs/req (closed) | CPU µs/req @500/s | "
          "p50 / p99 / p99.9 ms @500/s | errors | spans/req (closed) | spans/req @500/s | peak RSS MiB |")
        w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for v in variants:
            lat = " / ".join(f"{median_of(results, v, route, k):.2f}" for k in ("p50_ms", "p99_ms", "p999_ms"))
            worst99 = max(pick(results, v, route, "p99_ms"))
            w(f"| {NAMES[v]} | {spread(pick(results, v, route, 'rps'))} "
              f"| {spread(pick(results, v, route, 'cpu_us_closed'), '{:.1f}')} "
              f"| {spread(pick(results, v, route, 'cpu_us_fixed'), '{:.1f}')} "
              f"| {lat} (p99 max {worst99:.2f}) | {int(sum(pick(results, v, route, 'errors')))} "
              f"| {spread(pick(results, v, route, 'spans_per_request_closed'), '{:.3f}')} "
              f"| {spread(pick(results, v, route, 'spans_per_request'), '{:.3f}')} "
              f"| {max(pick(results, v, route, 'peak_rss_kib')) / 1024:.1f} |")
        w("")

    w("### Ratios of (a) full tracing to the others (CPU per request, closed loop; req/s)\n")
    others = [v for v in variants if v != "traced"]
    w("| route | " + " | ".join(f"CPU (a)/{v}" for v in others) + " | "
      + " | ".join(f"req/s (a)/{v}" for v in others) + " |")
    w("|" + " --- |" * (1 + 2 * len(others)))
    for route in ROUTES:
        a_cpu = median_of(results, "traced", route, "cpu_us_closed")
        a_rps = median_of(results, "traced", route, "rps")
        cells = [f"{a_cpu / median_of(results, v, route, 'cpu_us_closed'):.2f}x" for v in others]
        cells += [f"{a_rps / median_of(results, v, route, 'rps'):.2f}x" for v in others]
        w(f"| `{route}` | " + " | ".join(cells) + " |")
    w("")
    w("### CPU per request by thread (closed loop, µs, median over rounds)\n")
    w("Read per thread from /proc/PID/task/*/stat: the tokio request workers; the SDK's span "
      "batch processor (the OTLP exporter's protobuf encoding, and for the direct path its gzip "
      "and SigV4 signing; a BENCH_BASELINE from before the seventh pass counts its own span "
      "pipeline here); the metrics reader; reqwest's blocking client thread, which sends the "
      "OTLP/HTTP exports of spans and metrics; everything else (the flush helper, main).\n")
    classes = ["workers", "span processor", "export HTTP", "metrics reader", "other"]
    w("| variant | route | " + " | ".join(classes) + " |")
    w("| --- | --- |" + " --- |" * len(classes))
    for v in variants:
        if v == "fastapi":
            continue
        for route in ROUTES:
            cells = [statistics.median([r.get("cpu_us_threads", {}).get(c, 0.0)
                                        for r in results if r["variant"] == v and r["route"] == route])
                     for c in classes]
            w(f"| {NAMES[v]} | `{route}` | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    w("")
    if "direct" in variants:
        w("### Direct to X-Ray (a'') against the collector path (a)\n")
        w("The app's own cost only: with (a) a collector sidecar also runs (its own CPU and memory "
          "reservation), with (a'') nothing else does. (a'') signs every export (SigV4) and gzips it; "
          "the sink stands in for X-Ray, so the network time to the real endpoint is not included.\n")
        w("| route | CPU µs/req (a) | CPU µs/req (a'') | p99 ms @500/s (a) | p99 ms @500/s (a'') | spans/req @500/s (a'') |")
        w("| --- | --- | --- | --- | --- | --- |")
        for route in ROUTES:
            w(f"| `{route}` | {median_of(results, 'traced', route, 'cpu_us_closed'):.1f} "
              f"| {median_of(results, 'direct', route, 'cpu_us_closed'):.1f} "
              f"| {median_of(results, 'traced', route, 'p99_ms'):.2f} "
              f"| {median_of(results, 'direct', route, 'p99_ms'):.2f} "
              f"| {median_of(results, 'direct', route, 'spans_per_request'):.3f} |")
        w("")
    logs = median_of(results, "traced", None, "log_lines_per_request")
    w(f"Log lines written per request by (a) at the default `RUST_LOG=info`: {logs:.3f}.\n")
    dropped = {v: dropped_spans(results, v) for v in ("traced", "direct", "nometrics") if v in variants}
    if dropped:
        w("Spans the service reported dropped (`spans_dropped_queue_full` of its `spans lost` line at shutdown, "
          "summed over the rounds' processes, closed loop included): "
          + ", ".join(f"{NAMES[v].split(' ', 1)[0]} {n}" for v, n in dropped.items()) + ".\n")
    for f in floods:
        write_flood(w, f)

    w("## Start-up and Lambda\n")
    w("Measured by `benches/startup.rs` (unpinned, nothing else running), each a fresh process.\n")
    w("| figure | p50 ms | p99 ms | min–max ms | n |")
    w("| --- | --- | --- | --- | --- |")
    for name, label in (("service", "HTTP start-up, exec → first 200 on /health"),
                        ("bare", "bare axum start-up, same")):
        if name in su:
            s = su[name]
            w(f"| {label} | {s['p50']:.2f} | {s['p99']:.2f} | {s['min']:.2f}–{s['max']:.2f} | {s['n']} |")
    for exp, label in (("otlp", "tracing + flush to the collector, EMF metrics"),
                       ("direct", "tracing + flush direct to X-Ray, SigV4 + gzip, local double, EMF metrics"),
                       ("xray-udp", "tracing + flush over UDP to the X-Ray endpoint double, EMF metrics"),
                       ("otel-lite", "peer: lambda-otel-lite, same routes, spans to stdout"),
                       ("none", "OTEL_TRACES_EXPORTER=none, EMF metrics"),
                       ("none-nometrics", "no traces, OTEL_METRICS_EXPORTER=none")):
        if exp not in lam:
            continue
        for key, what in (("init_ms", "Lambda init, exec → first /next"),
                          ("cold_ms", "cold invocation (first of a process), incl. flush"),
                          ("warm_ms", "warm invocation, incl. flush")):
            s = lam[exp][key]
            w(f"| {what} ({label}) | {s['p50']:.3f} | {s['p99']:.3f} | {s['min']:.3f}–{s['max']:.3f} | {s['n']} |")
    if "otlp" in lam:
        f = lam["otlp"]["spans_flushed_before_next"]
        w(f"\nSpans delivered to the collector between an invocation and the next `/next` "
          f"(tracing on, the warm process): min {f['min']}, max {f['max']}, total {f['total']} over "
          f"{lam['otlp']['warm_ms']['n'] + 1} invocations; errors over all "
          f"{lam['otlp']['invocations']} invocations: "
          f"{lam['otlp']['errors']} (on), {lam.get('none', {}).get('errors', 'n/a')} (off).\n")

    write_aws_sdk(w, startup)
    middleware = [s for s in startup if s.get("kind") == "middleware"]
    write_middleware(w, middleware)

    w("## Artifacts\n")
    w(f"- Stripped release binary (`target/release/axum-xray-otel`): {bin_mib:.2f} MiB.")
    if zip_mib is not None:
        w(f"- Lambda zip (`cargo lambda build --release --output-format zip`, x86_64): {zip_mib:.2f} MiB.")
    else:
        w("- Lambda zip: not built (cargo-lambda unavailable).")
    w("- Release profile:\n\n```toml\n[profile.release]\n" + (profile.group(1).strip() if profile else "?") + "\n```\n")
    overrides = sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("CARGO_PROFILE_RELEASE_"))
    if overrides:
        w(f"- Overridden for this run by the environment: {', '.join(f'`{o}`' for o in overrides)}.\n")

    w(f"## Budget (full tracing and metrics, against the same run's peers; {cpu_model()})\n")
    w("| goal | target | measured | verdict | margin |")
    w("| --- | --- | --- | --- | --- |")
    out.extend(budget(results, floods, variants, lam))
    w("")
    w("## Other figures (information, not goals)\n")
    w("| figure | measured |")
    w("| --- | --- |")
    out.extend(information(results, floods, variants, su, lam, startup, middleware, zip_mib))
    w("")
    return "\n".join(out) + "\n"


def worst_route(results: list[dict], a: str, b: str, key: str = "cpu_us_closed") -> tuple[str, float]:
    """The route where variant a's median is the largest multiple of b's."""
    ratios = {r: median_of(results, a, r, key) / median_of(results, b, r, key) for r in ROUTES}
    route = max(ratios, key=ratios.get)
    return route, ratios[route]


def budget(results: list[dict], floods: list[dict], variants: list[str], lam: dict) -> list[str]:
    """The goals of issue 26, and nothing else."""
    rows: list[str] = []
    route, ratio = worst_route(results, "traced", "bare")
    a, b = (median_of(results, v, route, "cpu_us_closed") for v in ("traced", "untraced"))
    goal(rows, "CPU/request vs bare axum", "≤ 2.5x",
         f"{ratio:.2f}x on `{route}`, the worst route; tracing adds {a - b:.2f} µs there "
         f"((a) {a:.1f} − (b) {b:.1f} µs)",
         ratio <= 2.5, f"{(ratio / 2.5 - 1) * 100:+.0f}% of the limit")
    if "fastapi" in variants:
        route, ratio = worst_route(results, "traced", "fastapi")
        least = 1 / ratio
        goal(rows, "CPU/request vs FastAPI peer", "≥ 30x less", f"{least:.1f}x less on `{route}`, the worst route",
             least >= 30, f"{(least / 30 - 1) * 100:+.0f}% of the target")
    p99 = max(median_of(results, "traced", r, "p99_ms") for r in ROUTES)
    goal(rows, f"p99 at {RATE} req/s", "≤ 1 ms", f"{p99:.3f} ms (worst route, median of rounds)",
         p99 <= 1, f"{(p99 - 1):+.3f} ms")
    goal(rows, f"every span delivered at {RATE} req/s", "100 %", *span_delivery(results))
    for f in floods:
        goal(rows, f"spans dropped at {f['rate']:,} req/s for {f['seconds']:g} s", "0", *flood_verdict(f))
    rss = max(pick(results, "traced", None, "peak_rss_kib") + [f["peak_rss_kib"] for f in floods]) / 1024
    goal(rows, "peak RSS under load", "≤ 16 MiB", f"{rss:.1f} MiB ((a), every load run and the flood)",
         rss <= 16, f"{rss - 16:+.1f} MiB")
    if "otlp" in lam:
        s = lam["otlp"]["init_ms"]["p50"]
        goal(rows, "Lambda init (p50, tracing to the collector)", "≤ 10 ms", f"{s:.1f} ms",
             s <= 10, f"{s - 10:+.1f} ms")
        s = lam["otlp"]["warm_ms"]["p50"]
        goal(rows, "Lambda warm invocation with flush (p50, local Runtime API double)", "≤ 1 ms",
             f"{s:.3f} ms", s <= 1, f"{s - 1:+.3f} ms")
    if "xray-udp" in lam and "otel-lite" in lam:
        for key, what in (("init_ms", "init"), ("warm_ms", "warm invocation with flush")):
            ours, peer = lam["xray-udp"][key]["p50"], lam["otel-lite"][key]["p50"]
            goal(rows, f"Lambda {what} over UDP vs the lambda-otel-lite peer (p50)", "no slower",
                 f"{ours:.3f} ms against {peer:.3f} ms", ours <= peer, f"{ours - peer:+.3f} ms")
    return rows


def span_delivery(results: list[dict]) -> tuple[str, bool, str]:
    """Spans received against requests x spans per request, over every round
    of each route's fixed-rate run; met only if no run came up short."""
    worst, short = None, 0
    for route in ROUTES:
        runs = [r for r in results if r["variant"] == "traced" and r["route"] == route]
        want = sum(r["requests_fixed"] for r in runs) * EXPECTED_SPANS["traced"][route]
        got = sum(r["spans_fixed"] for r in runs)
        short += sum(max(r["requests_fixed"] * EXPECTED_SPANS["traced"][route] - r["spans_fixed"], 0)
                     for r in runs)
        if worst is None or got / max(want, 1) < worst[1] / max(worst[2], 1):
            worst = (route, got, want)
    route, got, want = worst
    # More than expected: oha cuts requests in flight at its deadline, the server still serves them.
    return (f"{got / max(want, 1) * 100:.2f} % on `{route}`, the worst route ({got} of {want} spans, all rounds)",
            short == 0, f"{short} spans short")


def flood_verdict(f: dict) -> tuple[str, bool | None, str]:
    missing = max(f["expected_spans"] - f["spans"], 0)
    dropped = f["spans_dropped"]
    measured = (f"{dropped} dropped by the SDK"
                + (" (it logged that dropping started)" if f["dropping_started"] else "")
                + f"; {f['spans']} of {f['expected_spans']} spans received ({missing} missing); "
                f"`{f['route']}`, {f['achieved_rps']:.0f} req/s achieved, {f['errors']} errors")
    if dropped or missing:
        return measured, False, f"{max(dropped, missing)} spans lost"
    # No drops at a rate the load generator did not reach proves nothing.
    if f["achieved_rps"] < 0.95 * f["rate"]:
        return measured, None, f"load reached {f['achieved_rps'] / f['rate'] * 100:.0f}% of the rate"
    return measured, True, "0 spans lost"


def dropped_spans(results: list[dict], variant: str) -> int:
    """The SDK's drop counts of one variant, one figure per server process."""
    return sum(r.get("spans_dropped", 0) for r in results
               if r["variant"] == variant and r["route"] == ROUTES[0])


def information(results, floods, variants, su, lam, startup, middleware, zip_mib) -> list[str]:
    """Measured beside the budget, for comparison and diagnosis."""
    rows: list[str] = []
    add = lambda name, measured: rows.append(f"| {name} | {measured} |")  # noqa: E731
    add("errors, (a)", str(int(sum(pick(results, "traced", None, "errors")))))
    worst = min(median_of(results, "traced", r, "spans_per_request_closed") / EXPECTED_SPANS["traced"][r]
                for r in ROUTES)
    add("spans delivered in the closed loop (saturated), (a)",
        f"{worst * 100:.2f} % (worst route, median of rounds); SDK drop count {dropped_spans(results, 'traced')}")
    for f in floods:
        add(f"the flood at {f['rate']:,} req/s, (a) on `{f['route']}`",
            f"CPU {f['cpu_us']:.1f} µs/request, p50 / p99 / p99.9 {f['p50_ms']:.2f} / {f['p99_ms']:.2f} / "
            f"{f['p999_ms']:.2f} ms, peak RSS {f['peak_rss_kib'] / 1024:.1f} MiB, exit code {f['exit_code']}")
    if "baseline" in variants:
        route, ratio = worst_route(results, "traced", "baseline")
        add("CPU/request vs BENCH_BASELINE ((a) / (e))", f"{ratio:.3f}x on `{route}`, the worst route")
    route, ratio = worst_route(results, "untraced", "bare")
    add("untraced stack vs bare axum ((b) / (c))", f"{ratio:.2f}x on `{route}`, the worst route")
    if "nometrics" in variants:
        extra = max(median_of(results, "traced", r, "cpu_us_closed") -
                    median_of(results, "nometrics", r, "cpu_us_closed") for r in ROUTES)
        add("metrics: CPU/request added, HTTP ((a) − (a'))", f"{extra:.2f} µs (worst route, medians)")
        extra_rss = (max(pick(results, "traced", None, "peak_rss_kib")) -
                     max(pick(results, "nometrics", None, "peak_rss_kib"))) / 1024
        add("metrics: peak RSS added, HTTP", f"{extra_rss:.2f} MiB")
    # Per route, the median over process runs; then the worst route.
    by_route: dict[str, list[float]] = {}
    for m in middleware:
        if m["variant"] == "traced" and "metrics_add" in m:
            by_route.setdefault(m["route"], []).append(m["metrics_add"] / 1000)
    if by_route:
        worst = max(statistics.median(v) for v in by_route.values())
        add("metrics: CPU/request added, request thread (in process, paired)",
            f"{worst:.2f} µs (worst route, median of runs)")
    if "service" in su:
        add("HTTP start-up (p50)", f"{su['service']['p50']:.1f} ms")
    off = lam["none"]["warm_ms"]["p50"] if "none" in lam else None
    for exp, label in (("otlp", "to the collector"), ("direct", "direct to X-Ray"),
                       ("xray-udp", "over UDP to X-Ray")):
        if exp not in lam:
            continue
        on = lam[exp]["warm_ms"]["p50"]
        if exp != "otlp":
            add(f"Lambda init, {label} (p50)", f"{lam[exp]['init_ms']['p50']:.1f} ms")
            add(f"Lambda warm invocation with flush, {label} (p50)", f"{on:.3f} ms")
        if off is not None:
            add(f"Lambda tracing cost per warm invocation, {label} (p50 on − off)",
                f"{on - off:.3f} ms ({on:.3f} − {off:.3f})")
    sdk_init = next((s for s in startup if s["kind"] == "dynamodb_lambda"), None)
    if sdk_init:
        add("Lambda init with the AWS SDK (p50)", f"{sdk_init['init_ms']['p50']:.1f} ms")
    if "none" in lam and "none-nometrics" in lam:
        on = lam["none"]["warm_ms"]["p50"]
        off = lam["none-nometrics"]["warm_ms"]["p50"]
        add("metrics: per-invocation cost incl. EMF line (p50, warm, traces off)",
            f"{on - off:.3f} ms ({on:.3f} emf − {off:.3f} none)")
    if zip_mib is not None:
        add("Lambda zip", f"{zip_mib:.2f} MiB")
    return rows


def write_flood(w, f: dict) -> None:
    w(f"### Flood: {f['rate']:,} req/s for {f['seconds']:g} s, full tracing\n")
    w(f"A fresh server as (a); `oha -c {CONNECTIONS} -q {f['rate']} -z {f['seconds']:g}s "
      f"--latency-correction` on `{f['route']}` ({EXPECTED_SPANS['traced'][f['route']]} spans a "
      "request), then SIGTERM, so the SDK exports what it holds and the service logs how many spans it "
      "dropped (`spans lost`, `spans_dropped_queue_full`; `span queue full` when the "
      "first is dropped). Received = spans the receiver decoded, after the server exited.\n")
    w("| requests | achieved req/s | errors | spans expected | spans received | dropped (SDK) "
      "| p50 / p99 / p99.9 ms | CPU µs/req | peak RSS MiB |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    w(f"| {f['requests']} | {f['achieved_rps']:.0f} | {f['errors']} | {f['expected_spans']} | {f['spans']} "
      f"| {f['spans_dropped']}{' (dropping started)' if f['dropping_started'] else ''} "
      f"| {f['p50_ms']:.2f} / {f['p99_ms']:.2f} / {f['p999_ms']:.2f} | {f['cpu_us']:.1f} "
      f"| {f['peak_rss_kib'] / 1024:.1f} |")
    w("")


def write_middleware(w, rows: list[dict]) -> None:
    """benches/middleware.rs: the request path in process, CPU of the calling thread."""
    if not rows:
        return
    w("## Middleware alone (in process)\n")
    w("`cargo bench --bench middleware --profile microbench`: `oneshot` requests through the real "
      "Router with ALB-like headers, spans and metrics over OTLP to a discarding sink; CPU time of "
      "the calling thread per request (the batch exporter and metrics reader are not in it). "
      "\"untraced\" and \"traced\" processes alternate; inside each, Routers with and without "
      "metrics alternate round by round, so \"metrics add\" is a paired difference (median of "
      "rounds, their range in brackets). µs, median of rounds, one figure per process run.\n")
    w("| route | run | untraced | traced | traced + metrics | tracing adds | metrics add (traced) | metrics add (untraced) |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- |")
    runs = sorted({r["run"] for r in rows})
    for route in dict.fromkeys(r["route"] for r in rows):
        for run in runs:
            def one(variant: str, metrics: bool) -> dict | None:
                return next((r for r in rows if r["route"] == route and r["run"] == run
                             and r["variant"] == variant and r["metrics"] == metrics), None)
            u, t, tm, um = one("untraced", False), one("traced", False), one("traced", True), one("untraced", True)
            if not (u and t and tm and um):
                continue
            def paired(r: dict) -> str:
                return (f"{r['metrics_add'] / 1000:.2f} ({r['metrics_add_min'] / 1000:.2f}.."
                        f"{r['metrics_add_max'] / 1000:.2f})")
            w(f"| `{route}` | {run} | {u['ns_per_request'] / 1000:.2f} | {t['ns_per_request'] / 1000:.2f} "
              f"| {tm['ns_per_request'] / 1000:.2f} | {(t['ns_per_request'] - u['ns_per_request']) / 1000:.2f} "
              f"| {paired(tm)} | {paired(um)} |")
    w("")


def write_aws_sdk(w, startup: list[dict]) -> None:
    """What the AWS SDK costs: benches/dynamodb.rs against DynamoDB Local, and the build."""
    init = next((s for s in startup if s["kind"] == "dynamodb_lambda"), None)
    cpu = {s["store"]: s for s in startup if s["kind"] == "dynamodb_cpu"}
    build = next((s for s in startup if s["kind"] == "build"), None)
    if not (init or cpu or build):
        return
    w("## AWS SDK (users in DynamoDB)\n")
    w("Measured by `benches/dynamodb.rs` against DynamoDB Local on 127.0.0.1 (a JVM on the same "
      "machine, unpinned), full tracing exported to an in-process receiver.\n")
    if init:
        w("| figure | p50 ms | p99 ms | min–max ms | n |")
        w("| --- | --- | --- | --- | --- |")
        for key, what in (("init_ms", "Lambda init with USERS_TABLE (aws-config load), exec → first /next"),
                          ("cold_ms", "its first invocation (GetItem), event → response")):
            s = init[key]
            w(f"| {what} | {s['p50']:.2f} | {s['p99']:.2f} | {s['min']:.2f}–{s['max']:.2f} | {s['n']} |")
        w("")
    if cpu:
        w("| `GET /api/users/42` | server CPU µs/request | req/s (8 clients) | requests | errors |")
        w("| --- | --- | --- | --- | --- |")
        for store, label in (("memory", "in-process store"), ("dynamodb", "DynamoDB Local (GetItem)")):
            if store in cpu:
                c = cpu[store]
                w(f"| {label} | {c['cpu_us_per_request']:.0f} | {c['rps']:.0f} | {c['requests']} | {c['errors']} |")
        w("")
    if build:
        w(f"Clean release build (`cargo build --release`, every crate, the release profile under "
          f"Artifacts) on {build['cpus']} CPUs: "
          f"{build['clean_release_build_s'] / 60:.1f} min.\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repo", type=Path, required=True)
    p.add_argument("--peer", type=Path)
    p.add_argument("--oha", required=True)
    p.add_argument("--startup", type=Path, required=True, help="JSON lines from benches/startup.rs")
    p.add_argument("--dynamodb", type=Path, help="JSON lines from benches/dynamodb.rs")
    p.add_argument("--build", type=Path, help="the clean release build time (bench/run.sh)")
    p.add_argument("--middleware", type=Path, help="JSON lines from benches/middleware.rs")
    p.add_argument("--results", type=Path, required=True, help="where the raw load results go")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=8)
    p.add_argument("--warmup", type=float, default=2)
    p.add_argument("--flood-rate", type=int, default=10_000, help="req/s of the flood run")
    p.add_argument("--flood-seconds", type=float, default=60, help="length of the flood run")
    p.add_argument("--report-only", action="store_true", help="reuse --results")
    p.add_argument("--baseline", help="a release binary of another commit, measured as (a)")
    args = p.parse_args()
    global BASELINE
    BASELINE = args.baseline
    peer = args.peer if args.peer and (args.peer / "start").exists() else None
    if args.report_only:
        results = json.loads(args.results.read_text())
    else:
        results = run_load(args, args.repo, peer)
        args.results.write_text(json.dumps(results, indent=1))
    startup = [json.loads(l) for l in args.startup.read_text().splitlines() if l.startswith("{")]
    if args.dynamodb and args.dynamodb.exists():
        startup += [json.loads(l) for l in args.dynamodb.read_text().splitlines() if l.startswith("{")]
    if args.middleware and args.middleware.exists():
        startup += [{"kind": "middleware", **json.loads(l)}
                    for l in args.middleware.read_text().splitlines() if l.startswith("{")]
    if args.build and args.build.exists():
        startup.append({"kind": "build", **json.loads(args.build.read_text())})
    args.out.write_text(write_report(args, results, startup, args.repo, peer))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
