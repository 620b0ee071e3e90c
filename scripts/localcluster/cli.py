"""The `local-cluster` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .build import build
from .cluster import Cluster, create_gpu_nodes
from .config import (
    START_TIMEOUT_S,
    ClusterError,
    log,
)
from .lifecycle import down, up
from .nodes import GPU_MODELS
from .processes import _alive, rss_kib


def _parse_labels(text: str) -> dict[str, str]:
    out = {}
    for part in filter(None, (s.strip() for s in text.split(","))):
        k, sep, v = part.partition("=")
        if not sep:
            raise ClusterError(f"bad label {part!r} (want key=value)")
        out[k.strip()] = v.strip()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="local-cluster",
        description="Local Kubernetes control plane (etcd, apiserver, KCM, scheduler, kwok) "
        "built from Go modules, with fake GPU nodes.",
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build (or reuse) the binaries; prints their directory")
    b.add_argument("--force", action="store_true", help="rebuild even when cached")

    def with_dir(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.add_argument("--dir", required=True, type=Path, help="run directory")
        return p

    u = with_dir("up", "start the control plane; prints the kubeconfig path")
    u.add_argument("--timeout", type=float, default=START_TIMEOUT_S)
    with_dir("down", "stop the processes `up` started and remove the directory")
    with_dir("status", "show pids, ports and RSS")
    n = with_dir("nodes", "create kwok-managed fake GPU nodes")
    n.add_argument("--gpu", required=True, help=f"one of {', '.join(GPU_MODELS)}")
    n.add_argument("--count", type=int, default=1)
    n.add_argument("--name-prefix", default=None)
    n.add_argument("--gpus-per-node", type=int, default=8)
    n.add_argument("--mig-strategy", choices=("none", "single", "mixed"), default="none")
    n.add_argument("--mig-layout", default="", help="e.g. 3g.40gb=1,2g.20gb=1,1g.10gb=2")
    n.add_argument("--labels", default="", help="extra labels k=v,k2=v2")
    n.add_argument("--no-wait", action="store_true", help="do not wait for Ready")
    s = with_dir("stop-apiserver", "stop kube-apiserver only")
    s.add_argument("--kill", action="store_true", help="SIGKILL instead of SIGTERM")
    with_dir("start-apiserver", "start kube-apiserver again on the same port")
    r = with_dir("restart-apiserver", "stop and start kube-apiserver")
    r.add_argument("--kill", action="store_true", help="SIGKILL instead of SIGTERM")
    args = ap.parse_args(argv)

    try:
        if args.cmd == "build":
            print(build(force=args.force))
        elif args.cmd == "up":
            c = up(args.dir, timeout=args.timeout)
            print(c.kubeconfig)
        elif args.cmd == "down":
            down(args.dir)
            log(f"stopped and removed {args.dir}")
        elif args.cmd == "status":
            c = Cluster.load(args.dir)
            for name, entry in c.procs.items():
                alive = _alive(entry)
                rss = rss_kib(entry["pid"]) if alive else 0
                state = f"running, RSS {rss / 1024:.0f} MiB" if alive else "stopped"
                print(f"{name:20} pid {entry['pid']:>7}  {state}")
            print(f"apiserver {c.api_url}  kubeconfig {c.kubeconfig}")
        elif args.cmd == "nodes":
            names = create_gpu_nodes(
                args.dir,
                args.gpu,
                args.count,
                name_prefix=args.name_prefix,
                gpus_per_node=args.gpus_per_node,
                mig_strategy=args.mig_strategy,
                mig_layout=args.mig_layout,
                labels=_parse_labels(args.labels),
                wait=not args.no_wait,
            )
            print("\n".join(names))
        elif args.cmd == "stop-apiserver":
            Cluster.load(args.dir).stop_apiserver(kill=args.kill)
        elif args.cmd == "start-apiserver":
            Cluster.load(args.dir).start_apiserver()
        elif args.cmd == "restart-apiserver":
            Cluster.load(args.dir).restart_apiserver(kill=args.kill)
    except ClusterError as e:
        print(f"local-cluster: error: {e}", file=sys.stderr)
        return 1
    return 0
