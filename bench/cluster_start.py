"""Benchmark the local control plane: warm start time to ready, and memory once running.

    python3 bench/cluster_start.py [--runs 5] [--nodes 4] [--settle 10] [--json]

Each run starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok in a
fresh directory (fresh PKI and etcd data), times `up()` until every health endpoint answers,
creates --nodes fake H100 nodes, waits --settle seconds, sums VmRSS of the five processes
(/proc/<pid>/status), and stops everything. The binaries must be built (or are built once
first; that time is reported separately and is not part of a run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import local_cluster as lc


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return f"{os.cpu_count()} CPUs ({model}), {mem_kib / 2**20:.1f} GiB RAM, {platform.platform()}"


def one_run(bin_dir: Path, nodes: int, settle: float) -> dict[str, object]:
    run_dir = Path(tempfile.mkdtemp(prefix="aiplane-bench-"))
    try:
        t0 = time.monotonic()
        cluster = lc.up(run_dir, bin_dir=bin_dir, die_with_parent=True)
        ready_s = time.monotonic() - t0
        t1 = time.monotonic()
        if nodes:
            cluster.create_gpu_nodes("H100-80GB", nodes, name_prefix="bench-h100-")
        nodes_s = time.monotonic() - t1
        time.sleep(settle)
        rss = {name: lc.rss_kib(pid) / 1024 for name, pid in cluster.pids().items()}
        t2 = time.monotonic()
        lc.down(run_dir)
        down_s = time.monotonic() - t2
    finally:
        lc.down(run_dir)
    return {
        "ready_s": round(ready_s, 2),
        "nodes_ready_s": round(nodes_s, 2),
        "down_s": round(down_s, 2),
        "rss_mib": {k: round(v, 1) for k, v in rss.items()},
        "rss_total_mib": round(sum(rss.values()), 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--nodes", type=int, default=4, help="fake H100 nodes per run")
    ap.add_argument("--settle", type=float, default=10.0, help="seconds before measuring RSS")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()

    t0 = time.monotonic()
    bin_dir = lc.build()
    build_s = time.monotonic() - t0
    runs = []
    for i in range(args.runs):
        r = one_run(bin_dir, args.nodes, args.settle)
        runs.append(r)
        print(
            f"run {i + 1}: ready in {r['ready_s']:.1f}s, {args.nodes} nodes Ready in "
            f"{r['nodes_ready_s']:.1f}s, RSS {r['rss_total_mib']:.0f} MiB {r['rss_mib']}, "
            f"down in {r['down_s']:.1f}s",
            file=sys.stderr,
        )
    ready = [float(r["ready_s"]) for r in runs]  # type: ignore[arg-type]
    rss = [float(r["rss_total_mib"]) for r in runs]  # type: ignore[arg-type]
    summary = {
        "machine": machine(),
        "versions": {
            "kubernetes": lc.K8S_VERSION,
            "etcd": lc.ETCD_VERSION,
            "kwok": lc.KWOK_VERSION,
        },
        "bin_dir": str(bin_dir),
        "build_or_cache_check_s": round(build_s, 1),
        "runs": runs,
        "ready_s": {"min": min(ready), "median": statistics.median(ready), "max": max(ready)},
        "rss_total_mib": {"min": min(rss), "median": statistics.median(rss), "max": max(rss)},
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"machine:     {summary['machine']}")
        print(f"versions:    {summary['versions']}")
        print(f"runs:        {len(runs)} (nodes per run: {args.nodes}, settle {args.settle:.0f}s)")
        print(
            f"warm start to ready: min {min(ready):.1f}s  "
            f"median {statistics.median(ready):.1f}s  max {max(ready):.1f}s"
        )
        print(
            f"control plane RSS:   min {min(rss):.0f} MiB  "
            f"median {statistics.median(rss):.0f} MiB  max {max(rss):.0f} MiB"
        )
        per: dict[str, list[float]] = {}
        for r in runs:
            for k, v in r["rss_mib"].items():  # type: ignore[attr-defined]
                per.setdefault(k, []).append(float(v))
        print(
            "median RSS per process (MiB): "
            + ", ".join(f"{k} {statistics.median(v):.0f}" for k, v in per.items())
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
