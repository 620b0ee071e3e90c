"""What aiplane knows about kinds: apply stages, immutable fields, disruption classes."""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from aiplane.plan.model import Action, Disruption, Stage
from aiplane.providers.kubernetes.diff import (
    FieldDiff,
    changed_mig_configs,
    get_path,
    json_text_field,
)
from aiplane.providers.kubernetes.kind_table import facts
from aiplane.providers.kubernetes.labels import IMMUTABLE_ANN, NODE_LABELS_KIND
from aiplane.providers.kubernetes.objects import ObjectRef, annotation

MIG_CONFIG = "nvidia.com/mig.config"
MIG_STATE = "nvidia.com/mig.config.state"
COLLECTION_KEY = "collection.json"

STAGES: tuple[Stage, ...] = ("crds", "cluster-config", "workloads", "routes", "workflows")
"""The stages Kubernetes objects use, in order (``stage_of`` indexes them)."""
ROLLING_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
POD_KINDS = ROLLING_KINDS | {"Job", "Pod", "ReplicaSet", "CronJob"}

# kind -> paths (globs over diff paths) the API server refuses to change
IMMUTABLE: Mapping[str, tuple[str, ...]] = {
    "Deployment": ("spec.selector", "spec.selector.*"),
    "ReplicaSet": ("spec.selector", "spec.selector.*"),
    "DaemonSet": ("spec.selector", "spec.selector.*"),
    "StatefulSet": (
        "spec.selector",
        "spec.selector.*",
        "spec.serviceName",
        "spec.volumeClaimTemplates*",
        "spec.podManagementPolicy",
    ),
    "Job": ("spec.template*", "spec.selector*", "spec.completionMode"),
    "Service": ("spec.clusterIP", "spec.clusterIPs*"),
    "PersistentVolumeClaim": ("spec.storageClassName", "spec.accessModes*", "spec.volumeName"),
    "PodDisruptionBudget": (),
    "PriorityClass": ("value",),
}
_NODE_DISRUPTIVE = {"ClusterPolicy": ("spec.driver.*", "spec.mig.*", "spec.migManager.config*")}


def stage_of(ref: ObjectRef) -> int:
    """Apply stage index in ``STAGES`` (from the kind table; unknown kinds go with workloads)."""
    return STAGES.index(facts(ref.kind).stage)


def immutable_reason(
    ref: ObjectRef, desired: Mapping[str, Any], live: Mapping[str, Any], diffs: Sequence[FieldDiff]
) -> str:
    """Why the change cannot be made in place ("" when it can)."""
    for glob in IMMUTABLE.get(ref.kind, ()):
        hit = next((d for d in diffs if fnmatch.fnmatchcase(d.path, glob)), None)
        if hit and not (ref.kind == "Service" and not hit.after):
            return f"{hit.path} is immutable"
    return collection_immutable_reason(desired, live)


def collection_immutable_reason(desired: Mapping[str, Any], live: Mapping[str, Any]) -> str:
    """A collection ConfigMap whose immutable vector settings change must be recreated."""
    fields = [f.strip() for f in annotation(desired, IMMUTABLE_ANN).split(",") if f.strip()]
    if not fields:
        return ""
    new, old = json_text_field(desired, COLLECTION_KEY), json_text_field(live, COLLECTION_KEY)
    if new is None or old is None:
        return ""
    for dotted in fields:
        before, after = get_path(old, dotted), get_path(new, dotted)
        if before != after:
            return f"{dotted} {before} -> {after} is immutable (the collection is recreated)"
    return ""


def disruption_of(
    ref: ObjectRef,
    action: Action,
    diffs: Sequence[FieldDiff],
    mig_refs: Collection[str] | None = None,
) -> Disruption:
    """The disruption class of one change.

    ``mig_refs``: the mig-parted config names that ``NodeLabels`` objects select; a ConfigMap
    change to the content of one of them re-partitions GPUs (None: treat every config as used).
    """
    if action in ("noop", "drift-expected", "create"):
        return "none"
    if ref.kind == "Namespace" and action in ("replace", "delete"):
        return "namespace"
    if action in ("replace", "delete"):
        return "recreate" if ref.kind in POD_KINDS or action == "replace" else "none"
    for glob in _NODE_DISRUPTIVE.get(ref.kind, ()):
        if any(fnmatch.fnmatchcase(d.path, glob) for d in diffs):
            return "node-disruptive"
    if ref.kind == "ConfigMap" and mig_layout_changes(diffs, mig_refs):
        return "node-disruptive"
    if ref.kind in ROLLING_KINDS and any(d.path.startswith("spec.template") for d in diffs):
        return "rolling-restart"
    return "in-place"


def mig_layout_changes(
    diffs: Sequence[FieldDiff], mig_refs: Collection[str] | None = None
) -> list[str]:
    """Names of mig-parted configs in use (``mig_refs``; None: all) whose content changes."""
    changed = changed_mig_configs(diffs)
    return [n for n in changed if mig_refs is None or n in mig_refs]


def mig_refs_of(manifests: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """The ``nvidia.com/mig.config`` values that ``NodeLabels`` objects set."""
    out = set()
    for m in manifests:
        if m.get("kind") == NODE_LABELS_KIND:
            value = ((m.get("spec") or {}).get("labels") or {}).get(MIG_CONFIG)
            if value:
                out.add(str(value))
    return frozenset(out)
