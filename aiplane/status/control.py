"""Control-plane section of ``aiplane status``: GPU Operator, MIG manager, Argo, Kueue, the model
registry and the gateway, each read from the cluster (or the registry's health endpoint)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiplane.providers.kubernetes.client import KubeClient
from aiplane.stack.loader import LoadedStack
from aiplane.status.reads import NOT_INSTALLED, condition, list_all, selector_text, served

Section = dict[str, Any]
MIG_CONFIG = "nvidia.com/mig.config"
MIG_STATE = "nvidia.com/mig.config.state"
_ARGO_SELECTORS = ("app.kubernetes.io/component=workflow-controller", "app=workflow-controller")
_KUEUE_SELECTOR = "app.kubernetes.io/name=kueue,control-plane=controller-manager"


def control_plane(client: KubeClient, loaded: LoadedStack, problems: list[str]) -> Section:
    return {
        "gpuOperator": gpu_operator(client, problems),
        "migManager": mig_manager(client, loaded, problems),
        "argo": argo(client, loaded, problems),
        "kueue": kueue(client, loaded, problems),
        "registry": registry(client, loaded, problems),
        "gateway": gateways(client, loaded, problems),
    }


def gpu_operator(client: KubeClient, problems: list[str]) -> Section:
    if not served(client, "nvidia.com/v1", "ClusterPolicy"):
        return {"state": NOT_INSTALLED}
    policies = [
        {"name": p["metadata"]["name"], "state": (p.get("status") or {}).get("state", "unknown")}
        for p in list_all(client, "nvidia.com/v1", "ClusterPolicy")
    ]
    for p in policies:
        if p["state"] != "ready":
            problems.append(f"ClusterPolicy/{p['name']}: state {p['state']}")
    if not policies:
        return {"state": "no ClusterPolicy"}
    return {"state": "ready" if all(p["state"] == "ready" for p in policies) else "not ready",
            "policies": policies}  # fmt: skip


def mig_manager(client: KubeClient, loaded: LoadedStack, problems: list[str]) -> Section:
    """MIG manager state on the nodes of the stack's pools (the labels it writes per node)."""
    seen: dict[str, dict[str, Any]] = {}
    for pool in loaded.stack.spec.gpu_pools:
        for node in list_all(client, "v1", "Node", labels=selector_text(pool.selector())):
            seen[node["metadata"]["name"]] = node
    out = []
    for name, node in sorted(seen.items()):
        labels = node["metadata"].get("labels") or {}
        if MIG_CONFIG not in labels:
            continue
        state = labels.get(MIG_STATE, "unknown")
        out.append({"node": name, "config": labels[MIG_CONFIG], "state": state})
        if state != "success":
            problems.append(f"node {name}: MIG state {state}")
    if not out:
        return {"state": NOT_INSTALLED}
    return {"state": "reported", "nodes": out}


def _deployments(client: KubeClient, selectors: tuple[str, ...]) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for selector in selectors:
        for d in list_all(client, "apps/v1", "Deployment", labels=selector):
            found[f"{d['metadata']['namespace']}/{d['metadata']['name']}"] = d
    return [found[k] for k in sorted(found)]


def _replicas(deployment: dict[str, Any]) -> Section:
    want = int((deployment.get("spec") or {}).get("replicas", 1))
    ready = int((deployment.get("status") or {}).get("readyReplicas", 0) or 0)
    meta = deployment["metadata"]
    return {"deployment": f"{meta['namespace']}/{meta['name']}", "ready": ready, "desired": want}


def argo(client: KubeClient, loaded: LoadedStack, problems: list[str]) -> Section:
    if not served(client, "argoproj.io/v1alpha1", "WorkflowTemplate"):
        return {"state": NOT_INSTALLED}
    controllers = [_replicas(d) for d in _deployments(client, _ARGO_SELECTORS)]
    ok = any(c["ready"] >= 1 for c in controllers)
    if not ok and loaded.stack.spec.pipelines:
        problems.append("Argo Workflows: no ready workflow controller")
    return {"state": "running" if ok else "no controller", "controllers": controllers}


def kueue(client: KubeClient, loaded: LoadedStack, problems: list[str]) -> Section:
    """Kueue's controller: its Deployment when installed from the release manifests; otherwise
    the stack's ClusterQueues' Active condition, which only the running controller sets."""
    if not served(client, "kueue.x-k8s.io/v1beta2", "ClusterQueue"):
        if loaded.stack.spec.queues is not None:
            problems.append("Kueue: not installed, but the stack declares queues")
        return {"state": NOT_INSTALLED}
    controllers = [_replicas(d) for d in _deployments(client, (_KUEUE_SELECTOR,))]
    queues = list_all(
        client,
        "kueue.x-k8s.io/v1beta2",
        "ClusterQueue",
        labels=f"aiplane.dev/stack={loaded.stack.metadata.name}",
    )
    reconciled = [q for q in queues if condition(q, "Active")]
    if any(c["ready"] >= 1 for c in controllers):
        state = "running"
    elif reconciled:
        state = "running (ClusterQueues reconciled)"
    else:
        state = "no controller seen"
        if loaded.stack.spec.queues is not None:
            problems.append("Kueue: no controller has reconciled the stack's ClusterQueues")
    return {"state": state, "controllers": controllers, "clusterQueuesReconciled": len(reconciled)}


def _registry_uris(loaded: LoadedStack) -> list[str]:
    """The MLflow servers the stack names: pipeline tracking URIs and mlflow registries (the
    in-cluster URI where one is given, since status reads through the cluster)."""
    spec = loaded.stack.spec
    uris = {p.tracking.mlflow_tracking_uri for p in spec.pipelines if p.tracking}
    uris |= {r.cluster_uri or r.uri for r in spec.registries if r.type == "mlflow"}
    return sorted(u for u in uris if u)


def _health(client: KubeClient, uri: str) -> tuple[bool, str]:
    """GET <uri>/health; an in-cluster Service URL goes through the API server's service proxy."""
    parts = urlsplit(uri)
    host = parts.hostname or ""
    labels = host.split(".")
    if len(labels) >= 3 and labels[2] == "svc":
        port = parts.port or (443 if parts.scheme == "https" else 80)
        scheme = "https:" if parts.scheme == "https" else ""
        path = f"/api/v1/namespaces/{labels[1]}/services/{scheme}{labels[0]}:{port}/proxy/health"
        text = client.get_text(path)
        return text is not None, "via the API server's service proxy"
    import httpx

    try:
        resp = httpx.get(uri.rstrip("/") + "/health", timeout=3.0)
    except httpx.HTTPError as exc:
        return False, f"unreachable: {type(exc).__name__}"
    return resp.status_code < 400, f"HTTP {resp.status_code}"


def registry(client: KubeClient, loaded: LoadedStack, problems: list[str]) -> Section:
    uris = _registry_uris(loaded)
    if not uris:
        return {"state": "not configured"}
    checks = []
    for uri in uris:
        healthy, detail = _health(client, uri)
        checks.append({"uri": uri, "healthy": healthy, "detail": detail})
        if not healthy:
            problems.append(f"registry {uri}: unhealthy ({detail})")
    return {"state": "healthy" if all(c["healthy"] for c in checks) else "unhealthy",
            "endpoints": checks}  # fmt: skip


def gateways(client: KubeClient, loaded: LoadedStack, problems: list[str]) -> Section:
    refs = sorted(
        {
            (r.gateway.namespace or loaded.stack.metadata.namespace, r.gateway.name)
            for r in loaded.stack.spec.routes
        }
    )
    if not refs:
        return {"state": "not configured"}
    if not served(client, "gateway.networking.k8s.io/v1", "Gateway"):
        problems.append("Gateway API: not installed, but the stack's routes need a gateway")
        return {"state": NOT_INSTALLED}
    out = []
    for namespace, name in refs:
        gateway = client.get("gateway.networking.k8s.io/v1", "Gateway", name, namespace)
        programmed = condition(gateway, "Programmed").get("status")
        state = (
            "missing"
            if gateway is None
            else ("programmed" if programmed == "True" else "not programmed")
        )
        out.append({"gateway": f"{namespace}/{name}", "state": state})
        if state != "programmed":
            problems.append(f"Gateway/{namespace}/{name}: {state}")
    return {"state": "ok" if all(g["state"] == "programmed" for g in out) else "not ready",
            "gateways": out}  # fmt: skip
