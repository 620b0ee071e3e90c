"""Measure how fast the CLI starts: import cost of aiplane.cli and wall time of light commands.

Usage: .venv/bin/python bench/cli_startup.py [--runs N]
Prints a Markdown table; the figures in docs/benchmarks.md come from this script.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# An installed package has its bytecode compiled; with PYTHONDONTWRITEBYTECODE set (as in some
# shells here) every module edited since the last cache write would be compiled on each start.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def import_time_us() -> tuple[int, list[tuple[int, str]]]:
    """Cumulative import time of aiplane.cli (microseconds) and the five costliest imports."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import aiplane.cli"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        env=ENV,
    )
    rows: list[tuple[int, str]] = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (.*)$", line)
        if match:
            rows.append((int(match[1]), match[2]))
    total = next(cum for cum, name in rows if name.strip() == "aiplane.cli")
    top = sorted(
        (r for r in rows if r[1].startswith(" ") and not r[1].startswith("   ")), reverse=True
    )[:5]
    return total, top


def wall_ms(argv: list[str], runs: int) -> tuple[float, float]:
    """Median wall and CPU (user + sys) milliseconds of ``python -m aiplane ARGV``, after one
    unmeasured run (it writes the bytecode caches a fresh checkout lacks)."""
    cmd = [sys.executable, "-m", "aiplane", *argv]
    subprocess.run(cmd, capture_output=True, cwd=ROOT, check=False, env=ENV)
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, cwd=ROOT, check=False, env=ENV)
        walls.append((time.perf_counter() - start) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    totals = [import_time_us()[0] for _ in range(args.runs)]
    _, top = import_time_us()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"| measurement | median of {args.runs} runs | CPU (user + sys) |")
    print("|---|---|---|")
    print(
        f"| `import aiplane.cli` (cumulative, -X importtime) | "
        f"{statistics.median(totals) / 1000:.1f} ms | |"
    )
    bare = [sys.executable, "-c", "pass"]
    for argv in (
        ["--version"],
        ["--help"],
        ["validate", "stacks/seed.yaml"],
        ["validate", "stacks/production.yaml"],
    ):
        wall, cpu = wall_ms(argv, args.runs)
        print(f"| `aiplane {' '.join(argv)}` wall time | {wall:.0f} ms | {cpu:.0f} ms |")
    samples = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run(bare, check=True, env=ENV)
        samples.append((time.perf_counter() - start) * 1000)
    print(f"| `python -c pass` wall time | {statistics.median(samples):.0f} ms | |")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print(
        "Costliest direct imports of aiplane.cli (cumulative µs): "
        + ", ".join(f"{n.strip()} {c}" for c, n in top)
    )


if __name__ == "__main__":
    main()
