#!/usr/bin/env python3
"""Instructions per request of release binaries, counted by callgrind.

Wall-clock CPU figures move with the machine and whatever else runs on it;
callgrind's instruction counts do not, so two builds can be compared on a busy
2-core machine. Each binary serves SMALL and then LARGE sequential keep-alive
requests per route under `valgrind --tool=callgrind` (all threads, the span
exporter included, spans going to examples/otlp_sink); the difference divided
by LARGE - SMALL is the cost of one request, start-up and shutdown cancelled out.

    bench/instructions.py --sink target/release/examples/otlp_sink \\
        before=/path/to/old/axum-xray-otel after=target/release/axum-xray-otel \\
        nometrics=target/release/axum-xray-otel,OTEL_METRICS_EXPORTER=none
"""

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench import Process  # noqa: E402

ROUTES = ["/api/users/42", "/api/database"]


def instructions(binary: str, sink_endpoint: str, route: str, requests: int, traced: bool,
                 extra_env: dict[str, str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        env = {
            "PATH": os.environ["PATH"], "PORT": "0", "APP_TARGET": "http",
            "USERS_LATENCY_MS": "0",
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink_endpoint,
            "OTEL_TRACES_EXPORTER": "otlp" if traced else "none",
            **extra_env,
        }
        server = Process(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                          "--dump-instr=no", "--collect-systime=no", binary], env)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.port(timeout=120), timeout=60)
            for _ in range(requests):
                conn.request("GET", route)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"{route}: {response.status}")
            conn.close()
        finally:
            server.stop(timeout=120)
        text = out.read_text(errors="replace")
        match = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
        if not match:
            raise RuntimeError(f"no totals in callgrind output of {binary}")
        return int(match.group(1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sink", required=True, help="examples/otlp_sink release binary")
    p.add_argument("--small", type=int, default=200)
    p.add_argument("--large", type=int, default=1200)
    p.add_argument("--untraced", action="store_true", help="also count OTEL_TRACES_EXPORTER=none")
    p.add_argument("binaries", nargs="+", help="label=path[,KEY=VALUE...] (extra environment)")
    args = p.parse_args()
    sink = Process([args.sink], {"PATH": os.environ["PATH"], "PORT": "0"})
    endpoint = f"http://127.0.0.1:{sink.port()}"
    rows = []
    try:
        for spec in args.binaries:
            label, rest = spec.split("=", 1)
            binary, *pairs = rest.split(",")
            extra_env = dict(pair.split("=", 1) for pair in pairs)
            for traced in [True, False] if args.untraced else [True]:
                for route in ROUTES:
                    small = instructions(binary, endpoint, route, args.small, traced, extra_env)
                    large = instructions(binary, endpoint, route, args.large, traced, extra_env)
                    per = (large - small) / (args.large - args.small)
                    rows.append({"binary": label, "traced": traced, "route": route,
                                 "instructions_per_request": round(per)})
                    print(json.dumps(rows[-1]), flush=True)
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
