"""``NodeLabels``: labels aiplane sets on existing nodes (it never creates or prunes Nodes).

Labels are applied with server-side apply under their own field manager, so only those labels
are touched, and a label dropped from the stack is released (removed) by the next apply.
A change of ``nvidia.com/mig.config`` re-partitions the GPUs: that change is node-disruptive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiplane.cluster.plan import Change, DriftNote, Pin
from aiplane.providers.kubernetes.client import KubeClient
from aiplane.providers.kubernetes.desired import Desired
from aiplane.providers.kubernetes.diff import FieldDiff
from aiplane.providers.kubernetes.drift import flatten_fields
from aiplane.providers.kubernetes.kinds import MIG_CONFIG, MIG_STATE, disruption_of
from aiplane.providers.kubernetes.objects import Manifest, digest

NODE_MANAGER = "aiplane-node-labels"


def selector_of(body: Mapping[str, Any]) -> str:
    """``spec.nodeSelector`` (plain map or ``matchLabels``) as a label-selector string."""
    sel = (body.get("spec") or {}).get("nodeSelector") or {}
    if isinstance(sel, dict) and "matchLabels" in sel:
        sel = sel["matchLabels"] or {}
    return ",".join(f"{k}={v}" for k, v in sorted(sel.items()))


def wanted_labels(body: Mapping[str, Any]) -> dict[str, str]:
    labels = (body.get("spec") or {}).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


def owned_labels(node: Mapping[str, Any]) -> set[str]:
    """Label keys the node-labels manager owns on ``node``."""
    for entry in (node.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == NODE_MANAGER and entry.get("operation") == "Apply":
            paths = flatten_fields(entry.get("fieldsV1") or {})
            prefix = "metadata.labels."
            return {p[len(prefix) :] for p in paths if p.startswith(prefix)}
    return set()


def list_nodes(client: KubeClient, body: Mapping[str, Any]) -> list[Manifest]:
    selector = selector_of(body)
    if not selector:
        return []
    return client.list("v1", "Node", label_selector=selector)


def fingerprint(nodes: list[Manifest], keys: set[str]) -> str:
    """What the plan pins for node labels: node names and the values of the labels involved."""
    state = {
        n["metadata"]["name"]: {k: (n["metadata"].get("labels") or {}).get(k) for k in sorted(keys)}
        for n in nodes
    }
    return digest(state)


def node_diffs(node: Mapping[str, Any], wanted: Mapping[str, str]) -> list[FieldDiff]:
    labels = (node.get("metadata") or {}).get("labels") or {}
    name = node["metadata"]["name"]
    out = [
        FieldDiff(f"nodes[{name}].labels.{k}", labels.get(k), v)
        for k, v in sorted(wanted.items())
        if labels.get(k) != v
    ]
    for k in sorted(owned_labels(node) - set(wanted)):
        if k in labels:
            out.append(FieldDiff(f"nodes[{name}].labels.{k}", labels[k], None))
    return out


def plan_node_labels(client: KubeClient, d: Desired) -> Change:
    nodes = list_nodes(client, d.body)
    wanted = wanted_labels(d.body)
    keys = set(wanted).union(*(owned_labels(n) for n in nodes)) if nodes else set(wanted)
    pin = Pin(None, fingerprint(nodes, keys), None)
    base: dict[str, Any] = {
        "ref": d.ref,
        "source": d.source,
        "subject": d.subject,
        "desired_digest": d.digest,
    }
    if not nodes:
        reason = f"no node matches nodeSelector {selector_of(d.body) or '(empty)'}"
        return Change(action="noop", reason=reason, pin=pin, **base)
    diffs = tuple(x for n in nodes for x in node_diffs(n, wanted))
    notes = tuple(
        DriftNote(f"nodes[{n['metadata']['name']}].labels.{MIG_STATE}", "NVIDIA MIG manager")
        for n in nodes
        if (n["metadata"].get("labels") or {}).get(MIG_STATE) not in (None, "success")
    )
    if not diffs:
        return Change(action="drift-expected" if notes else "noop", pin=pin,
                      expected_drift=notes, **base)  # fmt: skip
    changed = list_node_names(diffs)
    mig = [x for x in diffs if x.path.endswith(MIG_CONFIG)]
    reason = f"labels change on {len(changed)} node(s): {', '.join(changed[:5])}"
    if mig:
        was = mig[0].before or "unset"
        reason = f"MIG re-partition ({was} -> {mig[0].after}) on {len(changed)} node(s)"
    return Change(action="update", reason=reason, diffs=diffs, pin=pin, expected_drift=notes,
                  disruption=disruption_of(d.ref, "update", diffs), **base)  # fmt: skip


def current_pin(client: KubeClient, body: Mapping[str, Any]) -> str:
    nodes = list_nodes(client, body)
    wanted = wanted_labels(body)
    keys = set(wanted).union(*(owned_labels(n) for n in nodes)) if nodes else set(wanted)
    return fingerprint(nodes, keys)


def apply_node_labels(client: KubeClient, body: Mapping[str, Any]) -> list[str]:
    """Apply the labels to every matching node; return the node names."""
    names = [n["metadata"]["name"] for n in list_nodes(client, body)]
    labels = wanted_labels(body)
    for name in names:
        patch = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}
        client.apply(patch, field_manager=NODE_MANAGER, force=True)
    return names


def list_node_names(diffs: Sequence[FieldDiff]) -> list[str]:
    """Node names mentioned by NodeLabels diff paths (``nodes[NAME].labels...``)."""
    names = (d.path[len("nodes[") :].split("]", 1)[0] for d in diffs if d.path.startswith("nodes["))
    return list(dict.fromkeys(names))
