"""Ownership: who manages a live object, and what aiplane may do with one it does not own.

aiplane never adopts an object that exists without this stack's ApplySet membership: the plan
names the current manager (a Helm release, another stack, another tool, the field managers that
wrote it) and refuses. ``aiplane import FILE ADDRESS...`` is the one way to take such an object
over; it is planned and confirmed like an apply.

Some objects are installed by another tool and only *configured* by aiplane (the GPU Operator's
ClusterPolicy). For those aiplane owns just the fields it sets, through server-side apply with a
field manager per stack and no force: it adds no ownership labels, never deletes the object
(pruning releases its fields instead), and two stacks that set one field to different values
conflict by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from aiplane.providers.kubernetes.labels import MANAGED_BY, PART_OF, STACK_LABEL, SUBJECT_ANN

HELM_RELEASE_ANN = "meta.helm.sh/release-name"
HELM_NAMESPACE_ANN = "meta.helm.sh/release-namespace"
CONFIGURED_KINDS: frozenset[str] = frozenset({"ClusterPolicy"})
"""Kinds another tool installs; aiplane owns only its fields (see the module docstring)."""
STACK_MANAGER_PREFIX = "aiplane-stack-"
DEFAULTS_MANAGER = "aiplane-defaults"
"""The field manager of values sent only to create a configured object (no stack owns them)."""


def stack_field_manager(stack: str) -> str:
    """The field manager of one stack's fields on configured objects."""
    return f"{STACK_MANAGER_PREFIX}{stack}"[:128]


def manager_name(field_manager: str) -> str:
    """A field manager in words: ``stack seed`` for a stack's own manager."""
    if field_manager.startswith(STACK_MANAGER_PREFIX):
        return f"stack {field_manager[len(STACK_MANAGER_PREFIX) :]}"
    return field_manager


def is_configured(kind: str) -> bool:
    """Whether aiplane only configures objects of ``kind`` (owns fields, never the object)."""
    return kind in CONFIGURED_KINDS


def current_manager(live: Mapping[str, Any]) -> str:
    """Who manages ``live``, in words, most specific first."""
    meta = live.get("metadata") or {}
    labels, anns = meta.get("labels") or {}, meta.get("annotations") or {}
    release = anns.get(HELM_RELEASE_ANN)
    if release:
        where = anns.get(HELM_NAMESPACE_ANN)
        return f"Helm release {where}/{release}" if where else f"Helm release {release}"
    if labels.get(MANAGED_BY) == "Helm":
        return "Helm"
    if labels.get(STACK_LABEL):
        return f"stack {labels[STACK_LABEL]}"
    if labels.get(PART_OF):
        return f"ApplySet {labels[PART_OF]}"
    if labels.get(MANAGED_BY):
        return str(labels[MANAGED_BY])
    managers = sorted(
        {
            manager_name(str(e.get("manager")))
            for e in meta.get("managedFields") or []
            if e.get("manager")
        }
    )
    if managers:
        return "field manager(s) " + ", ".join(managers)
    return "no recorded manager"


def rendered_for(live: Mapping[str, Any], stack: str) -> bool:
    """Whether ``live`` carries the labels render gives this stack's objects (a GitOps tool
    applied this stack's render): it is this stack's own object, not another's, and may join
    the ApplySet without ``import``."""
    labels = (live.get("metadata") or {}).get("labels") or {}
    return labels.get(STACK_LABEL) == stack and labels.get(MANAGED_BY) == "aiplane"


def not_adopted(live: Mapping[str, Any], stack_file: str, address: str) -> str:
    """The plan error for an existing object this stack does not own."""
    return (
        f"exists and is not managed by this stack (managed by {current_manager(live)}); "
        f"aiplane never adopts it (take it over with `aiplane import {stack_file} {address}`)"
    )


_QUOTED = re.compile(r'"([^"]+)"')


def conflict_message(message: str, causes: Sequence[str]) -> str:
    """A server-side apply conflict (409) in stack terms: ``field spec.mig.strategy is set by
    stack seed``, one clause per field."""
    clauses = []
    for cause in causes:
        path, _, text = cause.partition(": ")
        owner = _QUOTED.search(text)
        if path and owner:
            clauses.append(f"field {path.lstrip('.')} is set by {manager_name(owner.group(1))}")
    if not clauses:
        return f"conflicts with another field manager: {message}"
    return "; ".join(clauses)


def other_managers(live: Mapping[str, Any], mine: str) -> list[str]:
    """The field managers of ``live``'s spec and metadata other than ``mine`` (an operator that
    only writes status did not install the object)."""
    return sorted(
        {
            str(e.get("manager"))
            for e in (live.get("metadata") or {}).get("managedFields") or []
            if e.get("manager") and e.get("manager") != mine and e.get("subresource") != "status"
        }
    )


def release_body(live: Mapping[str, Any]) -> dict[str, Any]:
    """The apply body that releases every field a manager holds: identity only."""
    meta = live.get("metadata") or {}
    ident = {k: meta[k] for k in ("name", "namespace") if meta.get(k)}
    return {"apiVersion": live.get("apiVersion"), "kind": live.get("kind"), "metadata": ident}


def without_ownership_labels(body: Mapping[str, Any]) -> dict[str, Any]:
    """A configured object's body without the labels that would claim the whole object (and
    without the subject annotation, which differs per stack)."""
    meta = dict(body.get("metadata") or {})
    labels = {
        k: v
        for k, v in (meta.get("labels") or {}).items()
        if k not in (MANAGED_BY, STACK_LABEL, PART_OF)
    }
    meta.pop("labels", None)
    if labels:
        meta["labels"] = labels
    # which stack entry it came from differs per stack: kept in the plan, not on the object
    anns = {k: v for k, v in (meta.pop("annotations", None) or {}).items() if k != SUBJECT_ANN}
    if anns:
        meta["annotations"] = anns
    return {**body, "metadata": meta}


# What a reviewer must see before a Namespace goes: the kinds people put in one by hand.
NAMESPACE_CONTENT_KINDS: tuple[tuple[str, str], ...] = (
    ("v1", "Secret"),
    ("v1", "ConfigMap"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "Service"),
    ("v1", "ServiceAccount"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("batch/v1", "Job"),
)
# Objects Kubernetes itself puts in every namespace.
_BUILT_IN = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}


def unowned_note(objects: Sequence[Mapping[str, Any]], applyset_id: str, limit: int = 10) -> str:
    """``; not owned by this stack: Secret/ns/a, ...`` for the objects of a Namespace about to be
    deleted that aiplane does not own ("" when there are none)."""
    names = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        kind, name = str(obj.get("kind")), str(meta.get("name"))
        if (kind, name) in _BUILT_IN or (meta.get("labels") or {}).get(PART_OF) == applyset_id:
            continue
        names.append(f"{kind}/{meta.get('namespace')}/{name}")
    if not names:
        return ""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"; not owned by this stack: {', '.join(sorted(names)[:limit])}{more}"
