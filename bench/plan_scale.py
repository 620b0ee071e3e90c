"""Plan at scale: ``aiplane plan`` vs ``kubectl diff --server-side`` on ~5,000 objects.

Generates a stack of N models (default 1,000), each rendered as Deployment + Service +
PodDisruptionBudget + ConfigMap + HorizontalPodAutoscaler (5 objects; generated here directly, in
the renderer's output shape), applies it to the local control plane (scripts/local_cluster.py),
then times, in the same run and on the same objects:

* ``aiplane plan --detailed-exitcode`` with no changes and with 10 % of the objects changed
  (a subprocess, so Python start-up and reading the stack are included);
* ``kubectl diff --server-side`` on exactly the objects aiplane sends (ownership labels added),
  at kubectl's default ``--concurrency=1`` and at ``--concurrency=16``.

Before the aiplane plans and before the kubectl runs it waits for the local control plane to
settle (its controllers digest the initial apply for about half a minute). Each command's client
CPU and the control plane's CPU meanwhile are printed.

Usage: .venv/bin/python bench/plan_scale.py [--models 1000] [--runs 3] [--kubeconfig K]
(without --kubeconfig a local control plane is started and stopped; set AIPLANE_CLUSTER_BIN to
reuse prebuilt binaries).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aiplane.commands.settings import Settings  # noqa: E402
from aiplane.providers.kubernetes.applyset import ApplySet  # noqa: E402
from aiplane.providers.kubernetes.desired import prepare  # noqa: E402
from aiplane.providers.kubernetes.offline import offline_scope  # noqa: E402

STACK = "bench"
NAMESPACES = 10


def _meta(name: str, ns: str, subject: str, line: int) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": ns,
        "labels": {"app.kubernetes.io/managed-by": "aiplane", "aiplane.dev/stack": STACK},
        "annotations": {
            "aiplane.dev/source": f"stacks/bench.yaml#L{line}",
            "aiplane.dev/subject": subject,
        },
    }


def model(i: int, *, changed: bool = False) -> list[dict[str, Any]]:
    name, ns, line = f"model-{i:04d}", f"bench-{i % NAMESPACES}", 10 + 12 * i
    subject = f"model {name} v1"
    labels = {"app": name}
    tag = "v0.7.0" if changed else "v0.6.0"
    container = {
        "name": "vllm",
        "image": f"vllm/vllm-openai:{tag}",
        "args": ["--model", f"org/{name}", "--tensor-parallel-size", "1"],
        "ports": [{"name": "http", "containerPort": 8000}],
        "resources": {"limits": {"nvidia.com/gpu": "1"}, "requests": {"cpu": "4"}},
    }
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": _meta(name, ns, subject, line),
         "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"containers": [container]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, ns, subject, line),
         "spec": {"selector": labels, "clusterIP": "None",
                  "ports": [{"name": "http", "port": 80 if not changed else 8080,
                             "targetPort": 8000}]}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
         "metadata": _meta(name, ns, subject, line),
         "spec": {"maxUnavailable": 2 if changed else 1, "selector": {"matchLabels": labels}}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": _meta(f"{name}-config", ns, subject, line),
         "data": {"served-model-name": name, "max-model-len": "16384" if changed else "8192"}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
         "metadata": _meta(name, ns, subject, line),
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                  "minReplicas": 1, "maxReplicas": 8 if changed else 4,
                  "metrics": [{"type": "Resource", "resource": {
                      "name": "cpu", "target": {"type": "Utilization",
                                                "averageUtilization": 80}}}]}},
    ]  # fmt: skip


def generate(models: int, changed_every: int = 0) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for i in range(models):
        items += model(i, changed=bool(changed_every) and i % changed_every == 0)
    return items


def write_bundle(path: Path, items: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                "metadata": {"name": STACK}, "items": items}))  # fmt: skip


def write_kubectl_input(path: Path, items: list[dict[str, Any]]) -> None:
    """Exactly the bodies aiplane applies (ownership labels added, source annotation dropped)."""
    desired = prepare(items, applyset=ApplySet(STACK, Settings.from_env().system_namespace),
                      default_namespace="default", scope=offline_scope)  # fmt: skip
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                "items": [d.body for d in desired]}))  # fmt: skip


CPU: dict[str, list[float]] = {}
"""CPU seconds (user + sys) of each timed command, by its command line (file names only)."""
SERVER_CPU: dict[str, list[float]] = {}
"""CPU seconds the control plane (API server, etcd, controllers, scheduler) used meanwhile."""


def control_plane_cpu(kubeconfig: Path) -> Callable[[], float]:
    """CPU seconds used so far by the local control plane whose ``cluster.json`` sits next to
    ``kubeconfig`` (scripts/local_cluster.py writes both); always 0 for another cluster."""
    record = kubeconfig.parent / "cluster.json"
    pids = []
    if record.exists():
        pids = [p["pid"] for p in json.loads(record.read_text()).get("procs", {}).values()]
    tick = os.sysconf("SC_CLK_TCK")

    def used() -> float:
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / tick

    return used


SERVER: list[Callable[[], float]] = [lambda: 0.0]
"""How ``timed`` reads the control plane's CPU (set by ``against_cluster``)."""


def settled(most_s: float = 120, below: float = 0.35, window_s: float = 5) -> str:
    """Wait until the local control plane is nearly idle (under ``below`` cores over a window):
    after thousands of writes its controllers keep 1 to 1.5 cores busy for about half a
    minute, which would slow whatever is timed next. What it waited, for the report."""
    start = time.monotonic()
    while True:
        before = SERVER[0]()
        time.sleep(window_s)
        rate = (SERVER[0]() - before) / window_s
        waited = time.monotonic() - start
        if rate < below or waited >= most_s:
            return f"waited {waited:.0f} s for the control plane to settle ({rate:.2f} cores)"


def timed(cmd: list[str], env: dict[str, str], ok: tuple[int, ...]) -> tuple[float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server = SERVER[0]()
    start = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, cwd=REPO)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server = SERVER[0]() - server
    if res.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd[:4])}: exit {res.returncode}\n{res.stderr[-3000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    key = " ".join(Path(a).name if "/" in a else a for a in cmd)
    CPU.setdefault(key, []).append(round(cpu, 2))
    SERVER_CPU.setdefault(key, []).append(round(server, 2))
    return took, res.stdout


def median_of(runs: int, cmd: list[str], env: dict[str, str], ok: tuple[int, ...]) -> list[float]:
    return [timed(cmd, env, ok)[0] for _ in range(runs)]


def _local_cluster() -> Any:
    spec = importlib.util.spec_from_file_location(
        "local_cluster", REPO / "scripts/local_cluster.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["local_cluster"] = mod
    spec.loader.exec_module(mod)
    return mod


def run(args: argparse.Namespace, kubeconfig: Path, kubectl: str, work: Path) -> dict[str, Any]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "NO_COLOR": "1", "AIPLANE_NO_WAIT": "1"}
    for i in range(NAMESPACES):
        subprocess.run([kubectl, "create", "namespace", f"bench-{i}"], env=env,
                       capture_output=True, check=False)  # fmt: skip
    base, changed = generate(args.models), generate(args.models, changed_every=10)
    write_bundle(work / "base.json", base)
    write_bundle(work / "changed.json", changed)
    write_kubectl_input(work / "kubectl-base.json", base)
    write_kubectl_input(work / "kubectl-changed.json", changed)
    aiplane = [sys.executable, "-m", "aiplane"]
    apply_s, _ = timed([*aiplane, "apply", str(work / "base.json"), "--yes"], env, (0,))
    plan = [*aiplane, "plan", "--detailed-exitcode"]
    _, out = timed([*plan, str(work / "changed.json"), "--json"], env, (2,))
    n_changed = sum(1 for c in json.loads(out)["changes"] if c["action"] != "noop")
    print(settled(), flush=True)
    result: dict[str, Any] = {
        "load_before_plans": [round(x, 2) for x in os.getloadavg()],
        "objects": len(base),
        "changed_objects": n_changed,
        "apply_s": apply_s,
        "plan_nochange_s": median_of(args.runs, [*plan, str(work / "base.json")], env, (0,)),
        "plan_changed_s": median_of(args.runs, [*plan, str(work / "changed.json")], env, (2,)),
    }
    print(settled(), flush=True)
    diff = [kubectl, "diff", "--server-side", "--force-conflicts", "--field-manager=aiplane"]
    for conc in args.kubectl_concurrency.split(","):
        for label, file in (("nochange", "kubectl-base.json"), ("changed", "kubectl-changed.json")):
            cmd = [*diff, f"--concurrency={conc}", "-f", str(work / file)]
            expect = (0,) if label == "nochange" else (1,)
            result[f"kubectl_c{conc}_{label}_s"] = median_of(1, cmd, env, expect)
    return result


def report(r: dict[str, Any]) -> None:
    timings = {k: v for k, v in r.items() if isinstance(v, list) and not k.startswith("load")}
    med = {k: statistics.median(v) for k, v in timings.items()}
    print(f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}")  # fmt: skip
    print(f"objects: {r['objects']}; changed in the 10 % run: {r['changed_objects']}")
    print(f"load average (1/5/15 min) before the plans: {r['load_before_plans']}, "
          f"at the end: {[round(x, 2) for x in os.getloadavg()]}")  # fmt: skip
    print(f"initial apply (no health wait): {r['apply_s']:.1f} s")
    for k, v in timings.items():
        if isinstance(v, list):
            print(f"{k}: median {med[k]:.2f} s (runs: {', '.join(f'{x:.2f}' for x in v)})")
    for label in ("nochange", "changed"):
        ours = med[f"plan_{label}_s"]
        for conc in (k.removeprefix("kubectl_c").split("_")[0] for k in med
                     if k.startswith("kubectl_c") and k.endswith(f"_{label}_s")):  # fmt: skip
            theirs = med[f"kubectl_c{conc}_{label}_s"]
            print(f"ratio {label}, kubectl --concurrency={conc}: {theirs / ours:.1f}x")
    print("client CPU s (user + sys) per command: "
          + "; ".join(f"{k}: {v}" for k, v in CPU.items()))  # fmt: skip
    print("control plane CPU s meanwhile (API server, etcd, controllers, scheduler): "
          + "; ".join(f"{k}: {v}" for k, v in SERVER_CPU.items()))  # fmt: skip
    print(json.dumps(r))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kubeconfig", type=Path)
    ap.add_argument("--kubectl", default="")
    ap.add_argument("--kubectl-concurrency", default="1,16", help="kubectl diff --concurrency "
                    "values to time, comma-separated (each run takes about a minute)")  # fmt: skip
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, files)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aiplane-bench-"))
    against_cluster(args, work, lambda kubeconfig, kubectl: report(run(args, kubeconfig, kubectl,
                                                                       work)))  # fmt: skip


def against_cluster(
    args: argparse.Namespace, work: Path, measure: Callable[[Path, str], None]
) -> None:
    """``measure(kubeconfig, kubectl)`` against ``--kubeconfig``, or else a local control plane
    started here and stopped after (``work`` is removed unless ``--keep``)."""
    if args.kubeconfig:
        SERVER[0] = control_plane_cpu(args.kubeconfig)
        measure(args.kubeconfig, args.kubectl or "kubectl")
        return
    lc = _local_cluster()
    bin_dir = lc.build()
    run_dir = work / "cluster"
    cluster = lc.up(run_dir, bin_dir=bin_dir)
    SERVER[0] = control_plane_cpu(Path(cluster.kubeconfig))
    try:
        measure(Path(cluster.kubeconfig), args.kubectl or str(bin_dir / "kubectl"))
    finally:
        lc.down(run_dir, keep_dir=args.keep)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
