"""Workload sections of ``aiplane status``: model versions, the GPU backlog, queues and pools."""

from __future__ import annotations

from collections import Counter
from typing import Any

from aiplane.providers.kubernetes.client import KubeClient
from aiplane.stack.loader import LoadedStack
from aiplane.stack.models import GpuPool
from aiplane.status.reads import (
    NOT_INSTALLED,
    allocatable_gpus,
    condition,
    gpu_requests,
    gpu_text,
    last_event,
    list_all,
    selector_text,
    served,
)

KUEUE = "kueue.x-k8s.io/v1beta2"
MIG_CONFIG = "nvidia.com/mig.config"
MIG_STATE = "nvidia.com/mig.config.state"
Row = dict[str, Any]


def _restarts(pod: dict[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount", 0)) for s in statuses)


def _ready(pod: dict[str, Any]) -> bool:
    return condition(pod, "Ready").get("status") == "True"


def model_pods(client: KubeClient, namespace: str, model: str, stage: str) -> list[dict[str, Any]]:
    labels = selector_text({"aiplane.dev/model": model, "aiplane.dev/stage": stage})
    pods = list_all(client, "v1", "Pod", labels=labels, namespace=namespace)
    return sorted(pods, key=lambda p: str(p["metadata"]["name"]))


def models(client: KubeClient, loaded: LoadedStack, problems: list[str]) -> list[Row]:
    from aiplane.render.vllm import service_name

    namespace = loaded.stack.metadata.namespace
    rows: list[Row] = []
    for model in loaded.stack.spec.models:
        for dep in model.deployments:
            name = service_name(model.name, dep.stage)
            live = client.get("apps/v1", "Deployment", name, namespace)
            pods = model_pods(client, namespace, model.name, dep.stage)
            desired = int((live or {}).get("spec", {}).get("replicas", 0)) if live else 0
            ready = int(((live or {}).get("status") or {}).get("readyReplicas", 0) or 0)
            row: Row = {
                "model": model.name,
                "version": dep.version,
                "stage": dep.stage,
                "weight": dep.weight,
                "deployment": f"{namespace}/{name}",
                "state": "not applied" if live is None else "ready",
                "ready": ready,
                "desired": desired,
                "pods": [_pod_row(p) for p in pods],
                "lastEvent": "",
            }
            if live is None or ready < desired:
                if live is not None:
                    row["state"] = "not ready"
                row["lastEvent"] = _why_not_ready(client, namespace, name, pods)
                problems.append(
                    f"model {model.name} {dep.version} ({dep.stage}): {row['state']}, "
                    f"{ready}/{desired} ready"
                    + (f"; {row['lastEvent']}" if row["lastEvent"] else "")
                )
            rows.append(row)
    return rows


def _pod_row(pod: dict[str, Any]) -> Row:
    return {
        "pod": pod["metadata"]["name"],
        "node": (pod.get("spec") or {}).get("nodeName") or "",
        "gpu": gpu_text(gpu_requests(pod)),
        "phase": (pod.get("status") or {}).get("phase", ""),
        "ready": _ready(pod),
        "restarts": _restarts(pod),
    }


def _why_not_ready(
    client: KubeClient, namespace: str, deployment: str, pods: list[dict[str, Any]]
) -> str:
    for pod in pods:
        if not _ready(pod):
            event = last_event(client, namespace, pod["metadata"]["name"])
            if event:
                return f"pod {pod['metadata']['name']}: {event}"
    return last_event(client, namespace, deployment)


def pending_gpu_pods(client: KubeClient) -> list[Row]:
    """Pods that ask for GPUs and are not scheduled yet, with the scheduler's reason."""
    rows = []
    for pod in list_all(client, "v1", "Pod", fields="status.phase=Pending"):
        gpus = gpu_requests(pod)
        if not gpus or (pod.get("spec") or {}).get("nodeName"):
            continue
        scheduled = condition(pod, "PodScheduled")
        gates = [g["name"] for g in (pod.get("spec") or {}).get("schedulingGates") or []]
        reason = scheduled.get("message") or scheduled.get("reason") or ""
        if gates:
            reason = f"scheduling gates: {', '.join(gates)}"
        meta = pod["metadata"]
        rows.append(
            {
                "pod": f"{meta['namespace']}/{meta['name']}",
                "gpu": gpu_text(gpus),
                "reason": reason or "not yet seen by the scheduler",
                "queue": (meta.get("labels") or {}).get("kueue.x-k8s.io/queue-name", ""),
            }
        )
    return rows


def _priority(workload: dict[str, Any]) -> int:
    return int((workload.get("spec") or {}).get("priority") or 0)


def pending_workloads(client: KubeClient) -> list[Row]:
    """Kueue Workloads not admitted yet, with their position in their ClusterQueue (ordered as
    Kueue orders a queue: higher priority first, then older first)."""
    if not served(client, KUEUE, "Workload"):
        return []
    local = {
        (q["metadata"]["namespace"], q["metadata"]["name"]): (q.get("spec") or {}).get(
            "clusterQueue", ""
        )
        for q in list_all(client, KUEUE, "LocalQueue")
    }
    pending: dict[str, list[dict[str, Any]]] = {}
    for w in list_all(client, KUEUE, "Workload"):
        if condition(w, "Admitted").get("status") == "True" or condition(w, "Finished"):
            continue
        queue = (w.get("spec") or {}).get("queueName", "")
        cluster_queue = local.get((w["metadata"]["namespace"], queue), "")
        pending.setdefault(cluster_queue, []).append(w)
    rows = []
    for cluster_queue, items in sorted(pending.items()):
        items.sort(key=lambda w: (-_priority(w), str(w["metadata"].get("creationTimestamp", ""))))
        for position, w in enumerate(items, start=1):
            reserved = condition(w, "QuotaReserved")
            meta = w["metadata"]
            owners = meta.get("ownerReferences") or [{}]
            rows.append(
                {
                    "workload": f"{meta['namespace']}/{meta['name']}",
                    "owner": f"{owners[0].get('kind', '')}/{owners[0].get('name', '')}",
                    "clusterQueue": cluster_queue,
                    "position": position,
                    "of": len(items),
                    "priority": _priority(w),
                    "reason": reserved.get("message") or "waiting",
                }
            )
    return rows


def queues(client: KubeClient, loaded: LoadedStack, problems: list[str]) -> list[Row] | str:
    if loaded.stack.spec.queues is None:
        return "not configured"
    if not served(client, KUEUE, "ClusterQueue"):
        return NOT_INSTALLED
    rows = []
    stack = loaded.stack.metadata.name
    for q in list_all(client, KUEUE, "ClusterQueue", labels=f"aiplane.dev/stack={stack}"):
        status = q.get("status") or {}
        borrowed: Counter[str] = Counter()
        used: Counter[str] = Counter()
        for flavor in status.get("flavorsUsage") or []:
            for res in flavor.get("resources") or []:
                used[res["name"]] += _count(res.get("total"))
                borrowed[res["name"]] += _count(res.get("borrowed"))
        active = condition(q, "Active")
        rows.append(
            {
                "clusterQueue": q["metadata"]["name"],
                "active": active.get("status") == "True",
                "admitted": int(status.get("admittedWorkloads", 0)),
                "reserving": int(status.get("reservingWorkloads", 0)),
                "pending": int(status.get("pendingWorkloads", 0)),
                "used": dict(used),
                "borrowed": dict(borrowed),
            }
        )
        if active.get("status") != "True":
            problems.append(
                f"ClusterQueue/{q['metadata']['name']}: not active ({active.get('message', 'no status')})"
            )
    return rows


def _count(value: Any) -> int:
    text = str(value or "0")
    return int(float(text[:-1]) / 1000) if text.endswith("m") else int(float(text))


def pools(client: KubeClient, loaded: LoadedStack, problems: list[str]) -> list[Row]:
    running = [
        p
        for p in list_all(
            client, "v1", "Pod", fields="status.phase!=Succeeded,status.phase!=Failed"
        )
        if (p.get("spec") or {}).get("nodeName")
    ]
    rows = []
    for pool in loaded.stack.spec.gpu_pools:
        nodes = list_all(client, "v1", "Node", labels=selector_text(pool.selector()))
        names = {n["metadata"]["name"] for n in nodes}
        allocatable: Counter[str] = Counter()
        for node in nodes:
            allocatable.update(allocatable_gpus(node))
        requested: Counter[str] = Counter()
        for pod in running:
            if pod["spec"]["nodeName"] in names:
                requested.update(gpu_requests(pod))
        rows.append(
            {
                "pool": pool.name,
                "nodes": len(nodes),
                "declaredNodes": pool.nodes,
                "allocatable": dict(sorted(allocatable.items())),
                "requested": dict(sorted(requested.items())),
                "mig": _mig(pool, nodes, problems),
            }
        )
    return rows


def _mig(pool: GpuPool, nodes: list[dict[str, Any]], problems: list[str]) -> Row:
    declared = pool.mig_config_name() if pool.mig.policy != "disabled" else None
    applied = []
    for node in nodes:
        labels = node["metadata"].get("labels") or {}
        config, state = labels.get(MIG_CONFIG), labels.get(MIG_STATE)
        applied.append({"node": node["metadata"]["name"], "config": config, "state": state})
        if declared and (config is None or not config.startswith(declared) or state != "success"):
            problems.append(
                f"pool {pool.name}: node {node['metadata']['name']} MIG {config or 'unset'} "
                f"({state or 'no state'}), declared {declared}"
            )
    return {"declared": declared or "disabled", "nodes": applied}
