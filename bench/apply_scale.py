"""Apply at scale: ``aiplane apply`` vs ``kubectl apply --server-side`` on ~5,000 objects.

Uses ``plan_scale.py``'s generator (N models, each a Deployment, Service, PodDisruptionBudget,
ConfigMap and HorizontalPodAutoscaler, ``replicas: 0``) and a local control plane of its own for each case (started here unless ``--kubeconfig``), so each
one is a first apply into an empty cluster with nothing else running. In order:

1. ``kubectl apply --server-side`` of exactly the bodies aiplane sends (no wait);
2. ``aiplane apply --yes`` with ``AIPLANE_NO_WAIT=1`` (plan, review, staged apply);
   then ``creates_only``: the same server-side applies and nothing else, 16 in flight from this
   process, as a floor (what no client that writes these objects can beat on this machine);
3. ``kubectl apply --server-side`` + ``kubectl wait --for=condition=Available`` on the Deployments;
4. ``aiplane apply --yes`` with its health wait on (the default).

Each line gives wall time, the process's CPU time (user + sys), the control plane's CPU time
meanwhile (API server, etcd, controllers, scheduler: read from /proc for a local control plane)
and the 1-minute load average before it ran.

Usage: .venv/bin/python bench/apply_scale.py [--models 1000] [--kubeconfig K] [--skip-wait]
"""

from __future__ import annotations

import argparse
import copy
import functools
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


def cases(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(case, stack) in the order they run."""
    out = [("kubectl_apply", "kca"), ("aiplane_apply", "apa"), ("creates_only", "cro")]
    if not args.skip_wait:
        out += [("kubectl_apply_wait", "kcb"), ("aiplane_apply_wait", "apb")]
    only = [c for c in args.cases.split(",") if c]
    return [(case, stack) for case, stack in out if not only or case in only]


def run(
    args: argparse.Namespace, kubeconfig: Path, kubectl: str, work: Path, case: str, stack: str
) -> dict[str, Any]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "NO_COLOR": "1",
           "AIPLANE_HEALTH_TIMEOUT": "900"}  # fmt: skip
    base = plan_scale.generate(args.models)
    aiplane = [sys.executable, "-m", "aiplane", "apply", "--yes"]
    ssa = [kubectl, "apply", "--server-side", "--force-conflicts", "--field-manager=aiplane"]
    result: dict[str, Any] = {"objects": len(base)}
    items = retarget(base, stack)
    namespaces(kubectl, env, stack)
    file = work / f"{stack}.json"
    if case == "creates_only":
        write_kubectl(file, items, stack)
        wall, cpu, load, server = creates_only(kubeconfig, file)
    elif case.startswith("kubectl"):
        write_kubectl(file, items, stack)
        wall, cpu, load, server = timed([*ssa, "-f", str(file)], env)
        if case.endswith("wait"):
            deployments = [d for d in json.loads(file.read_text())["items"]
                           if d["kind"] == "Deployment"]  # fmt: skip
            waitfile = work / f"{stack}-deployments.json"
            waitfile.write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                            "items": deployments}))  # fmt: skip
            waited = [kubectl, "wait", "--for=condition=Available", "--timeout=900s",
                      "-f", str(waitfile)]  # fmt: skip
            w_wall, w_cpu, _, w_server = timed(waited, env)
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


def creates_only(kubeconfig: Path, file: Path) -> tuple[float, float, float, float]:
    """The floor for any client here: the same server-side applies (creates) and nothing else
    (no plan, no dry-run, no review), 16 in flight, bodies encoded beforehand, timed in this
    process. (wall s, CPU s of this process, 1-minute load before, control plane CPU s)."""
    from aiplane.providers.kubernetes.client import KubeClient, encode
    from aiplane.providers.kubernetes.kubeconfig import load_kubeconfig

    items = json.loads(file.read_text())["items"]
    load = os.getloadavg()[0]
    with KubeClient(load_kubeconfig(str(kubeconfig)), concurrency=16) as kube:
        kube.resource("v1", "Namespace")  # discovery outside the timing
        bodies = [(obj, encode(obj)) for obj in items]
        server, cpu, start = plan_scale.SERVER[0](), time.process_time(), time.perf_counter()
        kube.map(lambda b: kube.apply(b[0], encoded=b[1]), bodies)
        wall = time.perf_counter() - start
    return wall, time.process_time() - cpu, load, plan_scale.SERVER[0]() - server


def one_case(
    args: argparse.Namespace, result: dict[str, Any], work: Path, case: str, stack: str,
    kubeconfig: Path, kubectl: str,
) -> None:  # fmt: skip
    result.update(run(args, kubeconfig, kubectl, work, case, stack))


def report(r: dict[str, Any]) -> None:
    print(f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}; objects: {r['objects']}")  # fmt: skip
    for ours, theirs in (("aiplane_apply", "kubectl_apply"), ("creates_only", "kubectl_apply"),
                         ("aiplane_apply_wait", "kubectl_apply_wait")):  # fmt: skip
        if ours in r and theirs in r:
            ratio = r[theirs]["wall_s"] / r[ours]["wall_s"]
            print(f"ratio {theirs} / {ours}: {ratio:.2f}x")
    print(json.dumps(r))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=1000)
    ap.add_argument("--kubeconfig", type=Path)
    ap.add_argument("--kubectl", default="")
    ap.add_argument("--skip-wait", action="store_true", help="only the runs without health wait")
    ap.add_argument("--cases", default="", help="only these cases, comma-separated (default: all)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    result: dict[str, Any] = {}
    for case, stack in cases(args):
        # A control plane of its own for each case (unless --kubeconfig): the objects of an
        # earlier case would otherwise load the API server (1,000 HPAs resync every 15 s)
        # while the next one is measured.
        work = Path(tempfile.mkdtemp(prefix="aiplane-apply-bench-"))
        measure = functools.partial(one_case, args, result, work, case, stack)
        plan_scale.against_cluster(args, work, measure)
    report(result)


if __name__ == "__main__":
    main()
