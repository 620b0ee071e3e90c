"""Small read helpers over the Kubernetes client for ``aiplane status``.

Every read returns what the API server said; a kind the server does not serve is reported as
such (``served`` is False) so the section can say "not installed" instead of guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiplane.providers.kubernetes.client import KubeClient

NOT_INSTALLED = "not installed"
GPU_PREFIX = "nvidia.com/"


def served(client: KubeClient, api_version: str, kind: str) -> bool:
    return client.resource(api_version, kind) is not None


def list_all(
    client: KubeClient,
    api_version: str,
    kind: str,
    *,
    labels: str = "",
    namespace: str | None = None,
    fields: str = "",
) -> list[dict[str, Any]]:
    """LIST with label and field selectors; [] when the kind is not served."""
    res = client.resource(api_version, kind)
    if res is None:
        return []
    params = {k: v for k, v in (("labelSelector", labels), ("fieldSelector", fields)) if v}
    doc = client.request("GET", res.path(namespace), params=params)
    items: list[dict[str, Any]] = (doc or {}).get("items") or []
    return items


def condition(obj: Mapping[str, Any] | None, kind: str) -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def selector_text(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def gpu_requests(pod: Mapping[str, Any]) -> dict[str, int]:
    """GPU extended resources a pod asks for (limits, as the device plugin counts them)."""
    out: dict[str, int] = {}
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        merged = {**(resources.get("requests") or {}), **(resources.get("limits") or {})}
        for name, value in merged.items():
            if name.startswith(GPU_PREFIX):
                out[name] = out.get(name, 0) + int(str(value))
    return out


def gpu_text(requests: Mapping[str, int]) -> str:
    parts = []
    for name, count in sorted(requests.items()):
        short = name.removeprefix(GPU_PREFIX)
        parts.append(f"{count} GPU" if short == "gpu" else f"{count}× {short.removeprefix('mig-')}")
    return ", ".join(parts) or "-"


def last_event(client: KubeClient, namespace: str, name: str) -> str:
    """The newest event about one object, as "Reason: message" ("" when there is none)."""
    doc = client.request(
        "GET",
        f"/api/v1/namespaces/{namespace}/events",
        params={"fieldSelector": f"involvedObject.name={name}"},
    )
    events = (doc or {}).get("items") or []
    if not events:
        return ""

    def when(event: Mapping[str, Any]) -> str:
        return str(
            event.get("lastTimestamp")
            or event.get("eventTime")
            or event["metadata"].get("creationTimestamp", "")
        )

    newest = max(events, key=when)
    return f"{newest.get('reason', '')}: {newest.get('message', '')}".strip(": ")


def allocatable_gpus(node: Mapping[str, Any]) -> dict[str, int]:
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    return {k: int(str(v)) for k, v in allocatable.items() if k.startswith(GPU_PREFIX)}
