"""Writes link/hot-text.ld: the functions the service runs, to be linked next to each other.

The kernel maps a file-backed page fault's whole 64 KiB neighbourhood (fault-around), and the
linker lays code out by crate and module, so the ~2.1 MiB of code that start-up and requests
run kept ~5.7 MiB of the binary's text resident: most of the resident memory above the heap
(bench/history.md). Run by hand when the code or its dependencies change much:

    python3 bench/hot_text.py

It builds the profiling binary (release code with symbols) without the present layout, runs it under callgrind through
start-up, every benchmarked route, error answers, span and metric exports, OTLP and direct to
X-Ray, and shutdown, then writes one linker input pattern per function run. Names are v0
symbols (.cargo/config.toml) with their crate hashes and back-references wildcarded, so the
patterns match in every profile, target and toolchain build; a function they miss is only
laid out where it would have been anyway. Prints how much of the code run the script it
replaces named: well under 100 % means the layout had gone stale.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import bench as b

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "link/hot-text.ld"
PROFILING = REPO / "target/profiling/axum-xray-otel"
ROUTES = ["/", "/api/users/42", "/api/database", "/api/users/0", "/api/users/x", "/nope"]
# bench.py's variants, in the order the section lays their code out: what every process runs,
# then what tracing adds, then the direct path's signing and TLS.
VARIANTS = ("untraced", "traced", "direct")
# An export every second and spans within 0.2 s, so that each run sees both exporters.
EXPORT_FAST = {"OTEL_METRIC_EXPORT_INTERVAL": "1000", "OTEL_BSP_SCHEDULE_DELAY": "200"}


def run(argv: list[str], **kw) -> str:
    return subprocess.run(argv, check=True, text=True, stdout=subprocess.PIPE, **kw).stdout


def executed(variant: str, out: Path) -> set[str]:
    """The symbols of the service's own binary that callgrind saw run."""
    sink = b.Sink(REPO)
    trace = out / f"{variant}.callgrind"
    proc = b.Process(["valgrind", "--tool=callgrind", "--demangle=no", "--compress-strings=no",
                      f"--callgrind-out-file={trace}", str(PROFILING)],
                     b.service_env(variant, sink) | EXPORT_FAST)
    try:
        port = proc.port(timeout=120)
        for route in ROUTES:
            for _ in range(50):
                b.get(f"http://127.0.0.1:{port}{route}", timeout=30)
        for route in b.ROUTES:  # keep-alive connections, as under the benchmark's load
            b.wrk(f"http://127.0.0.1:{port}{route}", 2)
        # Two metric exports (OTLP to the sink; EMF lines on stdout on the direct path), so
        # the exporters' code is in the profile too. With delta temporality an export with
        # nothing measured since the last is skipped, so these are counted from the start.
        exported = (lambda: proc.emf_lines) if variant == "direct" else (lambda: sink.stats()["other"])
        deadline = b.time.monotonic() + 120
        while exported() < 2:
            if proc.proc.poll() is not None or b.time.monotonic() > deadline:
                raise RuntimeError(f"{variant}: no two metric exports: {proc.head}")
            b.time.sleep(0.2)
    finally:
        proc.stop(timeout=120)
        sink.proc.stop()
    names: set[str] = set()
    ours = False
    for line in trace.read_text(errors="replace").splitlines():
        if line.startswith("ob="):
            ours = line[3:] == str(PROFILING)
        elif ours and line.startswith("fn="):
            names.add(line[3:])
    return names


def pattern(symbol: str) -> str:
    """A glob for the function's name, free of per-build hashes."""
    symbol = re.sub(r"\.llvm\.\d+$", "*", symbol)
    if symbol.startswith("_R"):
        # Crate disambiguators (Cs<hash>_) and back-references (B<offset>_): both change with
        # the build's crate hashes, so both become wildcards.
        symbol = re.sub(r"Cs[0-9A-Za-z]+_", "Cs*_", symbol)
        symbol = re.sub(r"B[0-9A-Za-z]*_", "B*_", symbol)
    return symbol


def matched(glob: str, functions: dict[str, int]) -> set[str]:
    """The functions a linker glob (`*` only) matches."""
    head = glob.split("*", 1)[0]
    rx = re.compile(re.escape(glob).replace(r"\*", ".*"))
    return {n for n in functions if n.startswith(head) and rx.fullmatch(n)}


def shortest(glob: str, functions: dict[str, int], hot: set[str]) -> str:
    """The glob cut as short as it can be without matching a function that did not run here:
    v0 names spell out every generic argument, often hundreds of characters."""
    for length in (40, 60, 80, 100, 140, 200, 300):
        if len(glob) <= length:
            break
        cut = glob[:length].rstrip("*") + "*"
        if matched(cut, functions) <= hot:
            return cut
    return glob


def functions(binary: Path) -> dict[str, int]:
    """The binary's functions and their sizes."""
    out = {}
    for line in run(["nm", "-S", "--defined-only", str(binary)]).splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW":
            out[parts[3]] = int(parts[1], 16)
    return out


def section_prefixes(link_map: Path) -> dict[str, str]:
    """Each function in a section of its own, and that section's name less the function's."""
    sections = re.findall(r":\((\.text\.(?:unlikely\.)?)([^)\s]+)\)$", link_map.read_text(), re.M)
    return {name: prefix for prefix, name in sections}


def coverage(ran: set[str], sizes: dict[str, int]) -> str:
    """How much of the code run the script being replaced still names."""
    named: set[str] = set()
    for line in SCRIPT.read_text().splitlines():
        section = re.fullmatch(r"\*\(\.text\.(?:unlikely\.)?(\S+)\)", line.strip())
        if section:
            named |= matched(section[1], sizes)
    total = sum(sizes[n] for n in ran)
    inside = sum(sizes[n] for n in ran & named)
    return (f"code run {total / 1024:.0f} KiB, named by the present script {inside / 1024:.0f} KiB"
            f" ({100 * inside / max(total, 1):.0f} %)")


def main() -> int:
    for tool in ("valgrind", "nm"):
        if shutil.which(tool) is None:
            print(f"hot_text: needs {tool} (apt-get install valgrind binutils)", file=sys.stderr)
            return 1
    # Without the present layout: valgrind names only the functions in .text. The link map
    # gives each function's input section: .text.<name> mostly, but LLVM puts #[cold] ones
    # (Vec's grow_one, say) in .text.unlikely.<name>, and those run too.
    link_map = PROFILING.parent / "hot-text.map"
    subprocess.run(["cargo", "rustc", "--profile", "profiling", "--bin", "axum-xray-otel", "--",
                    "-C", f"link-arg=-Wl,-Map={link_map}"],
                   cwd=REPO, check=True, env={**os.environ, "HOT_TEXT": "off"})
    prefix = section_prefixes(link_map)
    subprocess.run(["cargo", "build", "--release", "--example", "otlp_sink"], cwd=REPO, check=True)
    sizes = functions(PROFILING)
    ran: dict[str, set[str]] = {}
    with tempfile.TemporaryDirectory() as work:
        for variant in VARIANTS:
            ran[variant] = executed(variant, Path(work)) & sizes.keys()
            print(f"hot_text: {variant}: {len(ran[variant])} functions", file=sys.stderr)
    every = set().union(*ran.values())
    print(f"hot_text: {coverage(every, sizes)}", file=sys.stderr)
    hot = set().union(*(matched(pattern(n), sizes) for n in every))
    patterns: list[str] = []
    for variant in VARIANTS:
        # A function in no section of its own (assembly, say) stays where it is.
        movable = ran[variant] & prefix.keys()
        globs = {prefix[n] + shortest(pattern(n), sizes, hot) for n in movable}
        patterns += sorted(globs - set(patterns))
    body = "\n".join(f"    *({p})" for p in patterns)
    SCRIPT.parent.mkdir(exist_ok=True)
    SCRIPT.write_text(
        "/* The functions the service runs at start-up and per request, linked next to each\n"
        "   other (build.rs). Written by bench/hot_text.py; regenerate, do not edit. */\n"
        "SECTIONS\n{\n  .text.hot : {\n" + body + "\n  }\n}\nINSERT BEFORE .text;\n")
    print(f"hot_text: wrote {len(patterns)} patterns to {SCRIPT.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
