"""Apply at scale: ``aiplane apply`` vs ``kubectl apply --server-side`` on ~5,000 objects.

Uses ``plan_scale.py``'s generator (N models, each a Deployment, Service, PodDisruptionBudget,
ConfigMap and HorizontalPodAutoscaler, ``replicas: 0``) and one local control plane. Every run
writes the same objects into namespaces of its own, so each one is a first apply. In order:

1. ``kubectl apply --server-side`` of exactly the bodies aiplane sends (no wait);
2. ``aiplane apply --yes`` with ``AIPLANE_NO_WAIT=1`` (plan, review, staged apply);
3. ``kubectl apply --server-side`` + ``kubectl wait --for=condition=Available`` on the Deployments;
4. ``aiplane apply --yes`` with its health wait on (the default).

kubectl goes first in each pair, into the emptier etcd. Each line gives wall time, the process's
CPU time (user + sys) and the 1-minute load average before it ran.

Usage: .venv/bin/python bench/apply_scale.py [--models 1000] [--kubeconfig K] [--skip-wait]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import plan_scale  # noqa: E402

from aiplane.commands.settings import Settings  # noqa: E402
from aiplane.providers.kubernetes.applyset import ApplySet  # noqa: E402
from aiplane.providers.kubernetes.desired import prepare  # noqa: E402
from aiplane.providers.kubernetes.offline import offline_scope  # noqa: E402


def retarget(items: list[dict[str, Any]], stack: str) -> list[dict[str, Any]]:
    """The same objects for stack ``stack``, in namespaces ``STACK-0`` … ``STACK-9``."""
    out = copy.deepcopy(items)
    for obj in out:
        meta = obj["metadata"]
        meta["namespace"] = meta["namespace"].replace(plan_scale.STACK, stack, 1)
        meta["labels"]["aiplane.dev/stack"] = stack
    return out


def write_aiplane(path: Path, items: list[dict[str, Any]], stack: str) -> None:
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "metadata": {"name": stack},
                                "items": items}))  # fmt: skip


def write_kubectl(path: Path, items: list[dict[str, Any]], stack: str) -> None:
    """Exactly the bodies aiplane applies (ownership labels added)."""
    applyset = ApplySet(stack, Settings.from_env().system_namespace)
    desired = prepare(items, applyset=applyset, default_namespace="default", scope=offline_scope)
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                "items": [d.body for d in desired]}))  # fmt: skip


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float, float]:
    """(wall s, CPU s of the child, 1-minute load before, control plane CPU s meanwhile)."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server = plan_scale.SERVER[0]()
    start = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server = plan_scale.SERVER[0]() - server
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}: exit {res.returncode}\n{res.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, load, server


def namespaces(kubectl: str, env: dict[str, str], stack: str) -> None:
    for i in range(plan_scale.NAMESPACES):
        subprocess.run([kubectl, "create", "namespace", f"{stack}-{i}"], env=env,
                       capture_output=True, check=False)  # fmt: skip


def run(args: argparse.Namespace, kubeconfig: Path, kubectl: str, work: Path) -> dict[str, Any]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "NO_COLOR": "1",
           "AIPLANE_HEALTH_TIMEOUT": "900"}  # fmt: skip
    base = plan_scale.generate(args.models)
    aiplane = [sys.executable, "-m", "aiplane", "apply", "--yes"]
    ssa = [kubectl, "apply", "--server-side", "--force-conflicts", "--field-manager=aiplane"]
    result: dict[str, Any] = {"objects": len(base)}
    cases = [("kubectl_apply", "kca"), ("aiplane_apply", "apa")]
    if not args.skip_wait:
        cases += [("kubectl_apply_wait", "kcb"), ("aiplane_apply_wait", "apb")]
    for case, stack in cases:
        items = retarget(base, stack)
        namespaces(kubectl, env, stack)
        file = work / f"{stack}.json"
        if case.startswith("kubectl"):
            write_kubectl(file, items, stack)
            wall, cpu, load, server = timed([*ssa, "-f", str(file)], env)
            if case.endswith("wait"):
                deployments = [d for d in json.loads(file.read_text())["items"]
                               if d["kind"] == "Deployment"]  # fmt: skip
                waitfile = work / f"{stack}-deployments.json"
                waitfile.write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                                "items": deployments}))  # fmt: skip
                w_wall, w_cpu, _, w_server = timed([kubectl, "wait", "--for=condition=Available",
                                          "--timeout=900s", "-f", str(waitfile)], env)  # fmt: skip
                wall, cpu, server = wall + w_wall, cpu + w_cpu, server + w_server
        else:
            write_aiplane(file, items, stack)
            case_env = {**env, "AIPLANE_NO_WAIT": "1"} if not case.endswith("wait") else env
            wall, cpu, load, server = timed([*aiplane, str(file)], case_env)
        result[case] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "load1": round(load, 2),
                        "control_plane_cpu_s": round(server, 2)}  # fmt: skip
        print(f"{case}: {wall:.2f} s wall, {cpu:.2f} s CPU, control plane {server:.2f} s CPU "
              f"(load {load:.2f})", flush=True)  # fmt: skip
    return result


def report(r: dict[str, Any]) -> None:
    print(f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}; objects: {r['objects']}")  # fmt: skip
    for ours, theirs in (("aiplane_apply", "kubectl_apply"),
                         ("aiplane_apply_wait", "kubectl_apply_wait")):  # fmt: skip
        if ours in r:
            ratio = r[theirs]["wall_s"] / r[ours]["wall_s"]
            print(f"ratio {theirs} / {ours}: {ratio:.2f}x")
    print(json.dumps(r))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=1000)
    ap.add_argument("--kubeconfig", type=Path)
    ap.add_argument("--kubectl", default="")
    ap.add_argument("--skip-wait", action="store_true", help="only the runs without health wait")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aiplane-apply-bench-"))
    plan_scale.against_cluster(
        args, work, lambda kubeconfig, kubectl: report(run(args, kubeconfig, kubectl, work))
    )


if __name__ == "__main__":
    main()
