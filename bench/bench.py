"""Load benchmark driver for bench/run.sh (stdlib only).

Runs, interleaved over several rounds, the HTTP target with full tracing and
export (traced), with OTEL_TRACES_EXPORTER=none (untraced), the bare axum floor
(bare) and the FastAPI + OpenTelemetry peer (fastapi, when its folder exists).
Servers run on CPU 0; wrk, oha and the OTLP sink on CPU 1 (this script is
started on CPU 1 by run.sh). Then writes BENCHMARKS.md from these results, the
start-up/Lambda bench output and the artifact sizes.
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
    # Ours for OTLP/HTTP, or the SDK's batch processor (gRPC, older builds).
    if name.startswith(("otel-spans", "OpenTelemetry.T")):
        return "span thread"
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
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines += 1
            if '"_aws"' in line:
                self.emf_lines += 1
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
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            return None


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


def oha(binary: str, url: str, seconds: float) -> dict:
    out = subprocess.run(
        [binary, "-z", f"{seconds:g}s", "-c", str(CONNECTIONS), "-q", str(RATE),
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
           "USERS_LATENCY_MS": "0", "DATABASE_LATENCY_MS": "0",
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
    spans0 = sink.stats()["spans"]
    warm = wrk(url, args.warmup)
    t0, threads0 = cpu_ticks(pid), thread_ticks(pid)
    closed = wrk(url, args.seconds)
    t1, threads1 = cpu_ticks(pid), thread_ticks(pid)
    fixed = oha(args.oha, url, args.seconds)
    time.sleep(SETTLE_EXPORTING if exporting else SETTLE_QUIET)
    t2 = cpu_ticks(pid)
    sent = warm["requests"] + closed["requests"] + fixed["requests"]
    spans = sink.stats()["spans"] - spans0
    return {
        "rps": closed["rps"],
        "cpu_us_closed": (t1 - t0) / CLK_TCK * 1e6 / max(closed["requests"], 1),
        "cpu_us_threads": {k: (v - threads0.get(k, 0)) / CLK_TCK * 1e6 / max(closed["requests"], 1)
                           for k, v in threads1.items()},
        "cpu_us_fixed": (t2 - t1) / CLK_TCK * 1e6 / max(fixed["requests"], 1),
        "cpu_share_fixed": (t2 - t1) / CLK_TCK / args.seconds,
        "p50_ms": fixed["p50_ms"], "p99_ms": fixed["p99_ms"], "p999_ms": fixed["p999_ms"],
        "errors": warm["errors"] + closed["errors"] + fixed["errors"],
        "requests": sent,
        "spans_per_request": spans / max(sent, 1),
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
                    lines = proc.lines
                finally:
                    proc.stop()
                sent = sum(r["requests"] for r in results[-len(ROUTES):])
                for r in results[-len(ROUTES):]:
                    r.update(peak_rss_kib=hwm, idle_rss_kib=idle_kib,
                             log_lines_per_request=lines / max(sent, 1))
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


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = status_like("/proc/meminfo", "MemTotal") // 1024
    return f"{cpu}, {os.cpu_count()} cores, {mem} MiB RAM, Linux {platform.release()}"


def status_like(path: str, key: str) -> int:
    for line in Path(path).read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def goal(rows: list, name: str, target: str, measured: str, met: bool | None, margin: str) -> None:
    verdict = "n/a" if met is None else ("met" if met else "**missed**")
    rows.append(f"| {name} | {target} | {measured} | {verdict} | {margin} |")


def write_report(args, results: list[dict], startup: list[dict], repo: Path, peer: Path | None) -> str:
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
      f"(`oha -c {CONNECTIONS} -q {RATE} --latency-correction`). CPU = utime+stime of the server "
      f"from /proc/PID/stat ({1e3 / CLK_TCK:.0f} ms ticks); the fixed-rate reading is taken after "
      f"waiting for the batch exporter's last send ({SETTLE_EXPORTING:.0f} s). "
      "Spans/request = spans the receiver decoded / requests sent (warm-up included). "
      "Cells: median over rounds (min–max).\n")

    w("## HTTP target\n")
    for route in ROUTES:
        w(f"### `GET {route}`\n")
        w("| variant | req/s, 64 conns | CPU µs/req (closed) | CPU µs/req @500/s | "
          "p50 / p99 / p99.9 ms @500/s | errors | spans/req | peak RSS MiB |")
        w("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for v in variants:
            lat = " / ".join(f"{median_of(results, v, route, k):.2f}" for k in ("p50_ms", "p99_ms", "p999_ms"))
            worst99 = max(pick(results, v, route, "p99_ms"))
            w(f"| {NAMES[v]} | {spread(pick(results, v, route, 'rps'))} "
              f"| {spread(pick(results, v, route, 'cpu_us_closed'), '{:.1f}')} "
              f"| {spread(pick(results, v, route, 'cpu_us_fixed'), '{:.1f}')} "
              f"| {lat} (p99 max {worst99:.2f}) | {int(sum(pick(results, v, route, 'errors')))} "
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
    w("Read per thread from /proc/PID/task/*/stat: the tokio request workers; the span thread "
      "(protobuf encoding and the span exports, signed ones included; a baseline before the "
      "span pipeline counts its batch processor here); the metrics reader; reqwest's blocking "
      "client thread, which sends the metrics exports (and a baseline's HTTPS span exports); "
      "everything else (flush helpers, main).\n")
    classes = ["workers", "span thread", "export HTTP", "metrics reader", "other"]
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
        w("### Direct to X-Ray (a') against the collector path (a)\n")
        w("The app's own cost only: with (a) a collector sidecar also runs (its own CPU and memory "
          "reservation), with (a') nothing else does. (a') signs every export (SigV4) and gzips it; "
          "the sink stands in for X-Ray, so the network time to the real endpoint is not included.\n")
        w("| route | CPU µs/req (a) | CPU µs/req (a') | p99 ms @500/s (a) | p99 ms @500/s (a') | spans/req (a') |")
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

    w("## Goals (full tracing and export, against the same run's peers)\n")
    w("| goal | target | measured | verdict | margin |")
    w("| --- | --- | --- | --- | --- |")
    rows: list[str] = []
    worst_cpu_ratio = max(median_of(results, "traced", r, "cpu_us_closed") /
                          median_of(results, "bare", r, "cpu_us_closed") for r in ROUTES)
    goal(rows, "CPU/request vs bare axum", "≤ 2x", f"{worst_cpu_ratio:.2f}x (worst route)",
         worst_cpu_ratio <= 2, f"{(worst_cpu_ratio / 2 - 1) * 100:+.0f}% of the limit")
    if "fastapi" in variants:
        least = min(median_of(results, "fastapi", r, "cpu_us_closed") /
                    median_of(results, "traced", r, "cpu_us_closed") for r in ROUTES)
        goal(rows, "CPU/request vs FastAPI peer", "≥ 30x less", f"{least:.1f}x less (worst route)",
             least >= 30, f"{(least / 30 - 1) * 100:+.0f}% of the target")
    p99 = max(median_of(results, "traced", r, "p99_ms") for r in ROUTES)
    goal(rows, "p99 at 500 req/s", "≤ 1 ms", f"{p99:.3f} ms (worst route, median of rounds)",
         p99 <= 1, f"{(p99 - 1):+.3f} ms")
    errors = int(sum(pick(results, "traced", None, "errors")))
    goal(rows, "errors", "0", str(errors), errors == 0, "")
    delivered = min(median_of(results, "traced", r, "spans_per_request") / EXPECTED_SPANS["traced"][r]
                    for r in ROUTES)
    goal(rows, "every span delivered", "100 %", f"{delivered * 100:.2f} % (worst route)",
         delivered >= 0.999, f"{(delivered - 1) * 100:+.2f} %")
    rss = max(pick(results, "traced", None, "peak_rss_kib")) / 1024
    goal(rows, "peak RSS under load", "≤ 12 MiB", f"{rss:.1f} MiB", rss <= 12, f"{rss - 12:+.1f} MiB")
    # The SERVER span and one child (every route but /): traced minus untraced.
    overhead = max(median_of(results, "nometrics", r, "cpu_us_closed") -
                   median_of(results, "untraced", r, "cpu_us_closed")
                   for r in ROUTES if r != "/")
    goal(rows, "tracing overhead, SERVER span + one child", "≤ 4 µs",
         f"{overhead:.2f} µs ((a') − (b), worst route)", overhead <= 4, f"{overhead - 4:+.2f} µs")
    stack = max(median_of(results, "untraced", r, "cpu_us_closed") /
                median_of(results, "bare", r, "cpu_us_closed") for r in ROUTES)
    goal(rows, "untraced middleware stack vs bare axum", "≤ 1.25x", f"{stack:.2f}x (worst route)",
         stack <= 1.25, f"{(stack / 1.25 - 1) * 100:+.0f}% of the limit")
    if "baseline" in variants:
        # The baseline predates metrics: compare it with (a'), metrics off.
        worse = max(median_of(results, "nometrics", r, "cpu_us_closed") /
                    median_of(results, "baseline", r, "cpu_us_closed") for r in ROUTES)
        goal(rows, "CPU/request vs BENCH_BASELINE ((a') / (e))", "≤ 1.03x", f"{worse:.3f}x (worst route)",
             worse <= 1.03, f"{(worse - 1) * 100:+.1f}%")
    if "nometrics" in variants:
        extra = max(median_of(results, "traced", r, "cpu_us_closed") -
                    median_of(results, "nometrics", r, "cpu_us_closed") for r in ROUTES)
        goal(rows, "metrics: CPU/request added (HTTP)", "≤ 1 µs", f"{extra:.2f} µs (worst route, medians)",
             extra <= 1, f"{extra - 1:+.2f} µs")
        extra_rss = (max(pick(results, "traced", None, "peak_rss_kib")) -
                     max(pick(results, "nometrics", None, "peak_rss_kib"))) / 1024
        goal(rows, "metrics: peak RSS added (HTTP)", "≤ 2 MiB", f"{extra_rss:.2f} MiB",
             extra_rss <= 2, f"{extra_rss - 2:+.2f} MiB")
    # Per route, the median over process runs; then the worst route.
    by_route: dict[str, list[float]] = {}
    for m in middleware:
        if m["variant"] == "traced" and "metrics_add" in m:
            by_route.setdefault(m["route"], []).append(m["metrics_add"] / 1000)
    if by_route:
        worst = max(statistics.median(v) for v in by_route.values())
        goal(rows, "metrics: CPU/request added, request thread (in process, paired)", "≤ 1 µs",
             f"{worst:.2f} µs (worst route, median of runs)", worst <= 1, f"{worst - 1:+.2f} µs")
    if "service" in su:
        s = su["service"]["p50"]
        goal(rows, "start-up (p50)", "< 20 ms", f"{s:.1f} ms", s < 20, f"{s - 20:+.1f} ms")
    if "otlp" in lam:
        s = lam["otlp"]["init_ms"]["p50"]
        goal(rows, "Lambda init (p50)", "< 20 ms", f"{s:.1f} ms", s < 20, f"{s - 20:+.1f} ms")
        on = lam["otlp"]["warm_ms"]["p50"]
        off = lam["none"]["warm_ms"]["p50"] if "none" in lam else 0.0
        goal(rows, "per-invocation overhead with flush (p50, warm)", "< 1 ms",
             f"{on - off:.3f} ms ({on:.3f} on − {off:.3f} off)", on - off < 1, f"{on - off - 1:+.3f} ms")
    if "direct" in lam:
        s = lam["direct"]["init_ms"]["p50"]
        goal(rows, "Lambda init, direct to X-Ray (p50)", "< 20 ms", f"{s:.1f} ms", s < 20, f"{s - 20:+.1f} ms")
        d = lam["direct"]["warm_ms"]["p50"]
        off = lam["none"]["warm_ms"]["p50"] if "none" in lam else 0.0
        goal(rows, "per-invocation overhead, direct (p50, warm, local double)", "< 1 ms",
             f"{d - off:.3f} ms ({d:.3f} on − {off:.3f} off)", d - off < 1, f"{d - off - 1:+.3f} ms")
    sdk_init = next((s for s in startup if s["kind"] == "dynamodb_lambda"), None)
    if sdk_init:
        s = sdk_init["init_ms"]["p50"]
        goal(rows, "Lambda init with the AWS SDK (p50)", "< 20 ms", f"{s:.1f} ms", s < 20, f"{s - 20:+.1f} ms")
    if "none" in lam and "none-nometrics" in lam:
        on = lam["none"]["warm_ms"]["p50"]
        off = lam["none-nometrics"]["warm_ms"]["p50"]
        goal(rows, "metrics: per-invocation cost incl. EMF line (p50, warm)", "≤ 0.1 ms",
             f"{on - off:.3f} ms ({on:.3f} emf − {off:.3f} none, traces off)", on - off <= 0.1,
             f"{on - off - 0.1:+.3f} ms")
    if zip_mib is not None:
        # 6 MiB since the AWS SDK (aws-config, DynamoDB) is in the binary.
        goal(rows, "Lambda zip", "≤ 6 MiB", f"{zip_mib:.2f} MiB", zip_mib <= 6, f"{zip_mib - 6:+.2f} MiB")
    out.extend(rows)
    w("")
    return "\n".join(out) + "\n"


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
        w(f"Clean release build (`cargo build --release`, every crate, fat LTO) on {build['cpus']} CPUs: "
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
