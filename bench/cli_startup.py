"""Measure how fast the CLI starts: import cost of aiplane.cli and wall time of light commands.

Usage: .venv/bin/python bench/cli_startup.py [--runs N]
Prints a Markdown table; the figures in docs/benchmarks.md come from this script.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def import_time_us() -> tuple[int, list[tuple[int, str]]]:
    """Cumulative import time of aiplane.cli (microseconds) and the five costliest imports."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import aiplane.cli"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
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


def wall_ms(argv: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "aiplane", *argv], capture_output=True, cwd=ROOT, check=False
        )
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    totals = [import_time_us()[0] for _ in range(args.runs)]
    _, top = import_time_us()
    baseline = wall_ms(["--version"], args.runs)
    print(f"| measurement | median of {args.runs} runs |")
    print("|---|---|")
    print(
        f"| `import aiplane.cli` (cumulative, -X importtime) | {statistics.median(totals) / 1000:.1f} ms |"
    )
    for argv in (
        ["--version"],
        ["--help"],
        ["validate", "stacks/seed.yaml"],
        ["validate", "stacks/production.yaml"],
    ):
        ms = baseline if argv == ["--version"] else wall_ms(argv, args.runs)
        print(f"| `aiplane {' '.join(argv)}` wall time | {ms:.0f} ms |")
    print()
    print(
        "Costliest direct imports of aiplane.cli (cumulative µs): "
        + ", ".join(f"{n.strip()} {c}" for c, n in top)
    )


if __name__ == "__main__":
    main()
