"""Health per kind after apply: Deployment rollout, ClusterPolicy ready, CRD Established, MIG state.

``check`` returns (healthy, detail) for one live object; ``wait_healthy`` polls a batch with a
per-kind timeout and reports progress through a callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiplane.errors import AiplaneError
from aiplane.providers.kubernetes.client import KubeClient
from aiplane.providers.kubernetes.kinds import MIG_STATE
from aiplane.providers.kubernetes.objects import ObjectRef

# seconds; large-model cold starts are long. ``AIPLANE_HEALTH_TIMEOUT`` (``cap``) caps them all.
TIMEOUTS: Mapping[str, float] = {
    "CustomResourceDefinition": 60,
    "Namespace": 60,
    "Deployment": 900,
    "StatefulSet": 900,
    "DaemonSet": 600,
    "ClusterPolicy": 900,
    "Node": 1200,
}
Checker = Callable[[Mapping[str, Any]], tuple[bool, str]]


class HealthTimeout(AiplaneError):
    """Objects did not become healthy in time."""


def _cond(obj: Mapping[str, Any], ctype: str) -> str:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return str(c.get("status"))
    return ""


def _rollout(obj: Mapping[str, Any]) -> tuple[bool, str]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    want = int(spec.get("replicas", 1))
    gen, seen = obj["metadata"].get("generation", 0), status.get("observedGeneration", 0)
    if seen < gen:
        return False, "the controller has not seen the new spec yet"
    updated = int(status.get("updatedReplicas", 0))
    ready = int(status.get("readyReplicas", status.get("availableReplicas", 0)) or 0)
    total = int(status.get("replicas", 0))
    if updated < want or ready < want or total > want:
        return False, f"{ready}/{want} ready, {updated} updated"
    return True, f"{ready}/{want} ready"


def _daemonset(obj: Mapping[str, Any]) -> tuple[bool, str]:
    st = obj.get("status") or {}
    want, ready = int(st.get("desiredNumberScheduled", 0)), int(st.get("numberReady", 0))
    return ready >= want and st.get("observedGeneration", 0) >= obj["metadata"].get(
        "generation", 0
    ), f"{ready}/{want} ready"


def _cluster_policy(obj: Mapping[str, Any]) -> tuple[bool, str]:
    state = str((obj.get("status") or {}).get("state", "")) or "no state yet"
    return state == "ready", f"state {state}"


def _crd(obj: Mapping[str, Any]) -> tuple[bool, str]:
    ok = _cond(obj, "Established") == "True"
    return ok, "Established" if ok else "not Established yet"


def _namespace(obj: Mapping[str, Any]) -> tuple[bool, str]:
    phase = str((obj.get("status") or {}).get("phase", ""))
    return phase in ("Active", ""), phase or "Active"


def _node_mig(obj: Mapping[str, Any]) -> tuple[bool, str]:
    state = (obj["metadata"].get("labels") or {}).get(MIG_STATE)
    if state is None:
        return True, "no MIG manager on this node"
    if state == "failed":
        raise AiplaneError(f"Node/{obj['metadata']['name']}: MIG re-partition failed ({MIG_STATE})")
    return state == "success", f"{MIG_STATE}={state}"


CHECKS: Mapping[str, Checker] = {
    "Deployment": _rollout,
    "StatefulSet": _rollout,
    "DaemonSet": _daemonset,
    "ClusterPolicy": _cluster_policy,
    "CustomResourceDefinition": _crd,
    "Namespace": _namespace,
    "Node": _node_mig,
}


def timeout_for(kind: str, cap: float = 0) -> float:
    """The health timeout of ``kind``, capped at ``cap`` seconds when ``cap`` > 0."""
    base = TIMEOUTS.get(kind, 300)
    return min(base, cap) if cap > 0 else base


def fetch(
    client: KubeClient, refs: Sequence[ObjectRef], selector: str
) -> list[Mapping[str, Any] | None]:
    """Current objects for ``refs``: one LIST per kind by ``selector`` when several share a kind
    (a thousand Deployments cost one request per poll, not a thousand), else GETs."""
    by_kind: dict[tuple[str, str, str], list[ObjectRef]] = {}
    for r in refs:  # per namespace: reads stay inside the stack's namespaces
        by_kind.setdefault((r.api_version, r.kind, r.namespace), []).append(r)
    # Nodes are not ApplySet members (NodeLabels only label them): always read by name
    listed = [k for k, rs in by_kind.items() if selector and len(rs) > 1 and k[1] != "Node"]
    found: dict[ObjectRef, Mapping[str, Any]] = {}
    for (api_version, kind, _ns), items in zip(
        listed,
        client.map(
            lambda k: client.list(k[0], k[1], label_selector=selector, namespace=k[2] or None),
            listed,
        ),
        strict=True,
    ):
        for obj in items:
            meta = obj["metadata"]
            found[ObjectRef(api_version, kind, meta.get("namespace", ""), meta["name"])] = obj
    rest = [r for r in refs if (r.api_version, r.kind, r.namespace) not in listed]
    got = client.map(lambda r: client.get(r.api_version, r.kind, r.name, r.namespace or None), rest)
    found.update({r: g for r, g in zip(rest, got, strict=True) if g is not None})
    return [found.get(r) for r in refs]


def wait_healthy(
    client: KubeClient,
    refs: Sequence[ObjectRef],
    progress: Callable[[str], None],
    *,
    selector: str = "",
    poll: float = 0.5,
    cap: float = 0,
    stop: Callable[[], None] | None = None,
) -> None:
    """Poll ``refs`` (kinds with a check) until healthy; raise ``HealthTimeout`` past the timeout."""
    pending = [r for r in refs if r.kind in CHECKS]
    start = time.monotonic()
    last: dict[ObjectRef, str] = {}
    while pending:
        if stop is not None:
            stop()  # raises when the apply was asked to stop
        live = fetch(client, pending, selector)
        still = []
        for ref, obj in zip(pending, live, strict=True):
            ok, detail = (False, "not found") if obj is None else CHECKS[ref.kind](obj)
            if not ok:
                still.append(ref)
                last[ref] = detail
        pending = still
        if not pending:
            return
        waited = time.monotonic() - start
        late = [r for r in pending if waited > timeout_for(r.kind, cap)]
        if late:
            detail = "; ".join(f"{r}: {last[r]}" for r in late[:5])
            raise HealthTimeout(f"{late[0]}: not healthy after {waited:.0f} s ({detail})")
        more = f" (+{len(pending) - 1} more not healthy yet)" if len(pending) > 1 else ""
        progress(f"{pending[0]}: waiting: {last[pending[0]]}{more}")
        time.sleep(poll)
