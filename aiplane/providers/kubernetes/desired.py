"""Rendered manifests prepared for planning: identity, ownership labels, source links, digests."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from aiplane.errors import AiplaneError, Diagnostic
from aiplane.providers.kubernetes.applyset import ApplySet
from aiplane.providers.kubernetes.labels import (
    CREATE_DEFAULTS_ANN,
    MANAGED_BY,
    MERGE_ANN,
    OWNERSHIP_ANN,
    OWNERSHIP_FIELDS,
    SOURCE_ANN,
    STACK_LABEL,
    SUBJECT_ANN,
)
from aiplane.providers.kubernetes.objects import (
    Manifest,
    ObjectRef,
    desired_digest,
    ref_of,
    with_labels,
)
from aiplane.providers.kubernetes.ownership import is_configured, without_ownership_labels
from aiplane.providers.kubernetes.shared_doc import MergeSpec

Key = tuple[str, str, str, str]  # group, kind, namespace, name


def key_of(ref: ObjectRef) -> Key:
    """Identity without the version: the same object read through another apiVersion matches."""
    return (ref.group, ref.kind, ref.namespace, ref.name)


@dataclass(frozen=True)
class Desired:
    """One object the stack wants, with the labels aiplane adds for ownership."""

    ref: ObjectRef
    body: Manifest
    source: str
    subject: str
    digest: str
    configured: bool = False
    """Only this stack's fields are its own (see ``ownership``)."""
    merge: MergeSpec | None = None
    """A shared document several stacks fill (see ``shared_doc``)."""
    create_defaults: Manifest | None = None
    """Sent only to create the object, under a manager no stack owns (``CREATE_DEFAULTS_ANN``)."""

    @cached_property
    def key(self) -> Key:
        return key_of(self.ref)

    @property
    def create_body(self) -> Manifest:
        """What creating the object sends in all: the defaults and this stack's fields."""
        if self.create_defaults is None:
            return self.body
        return deep_merged(self.create_defaults, self.body)


Scope = Callable[[str, str], bool | None]  # (apiVersion, kind) -> namespaced? (None: unknown)


def crd_scopes(manifests: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], bool]:
    """(group, kind) -> namespaced, for CRDs that the stack itself installs."""
    out = {}
    for m in manifests:
        if m.get("kind") == "CustomResourceDefinition":
            spec = m.get("spec") or {}
            kind = (spec.get("names") or {}).get("kind", "")
            out[(str(spec.get("group", "")), str(kind))] = spec.get("scope") == "Namespaced"
    return out


def prepare(
    manifests: Sequence[Mapping[str, Any]],
    *,
    applyset: ApplySet,
    default_namespace: str,
    scope: Scope,
) -> list[Desired]:
    """Validate identities, fill default namespaces, add ownership labels; reject duplicates."""
    crds = crd_scopes(manifests)
    seen: dict[Key, str] = {}
    out: list[Desired] = []
    problems: list[Diagnostic] = []
    for m in manifests:
        body = _with_namespace(m, default_namespace, scope, crds)
        ref = ref_of(body)
        if not (ref.api_version and ref.kind and ref.name):
            problems.append(Diagnostic(f"{ref}: object needs apiVersion, kind and metadata.name"))
            continue
        anns = (body.get("metadata") or {}).get("annotations") or {}
        source = str(anns.get(SOURCE_ANN, ""))
        body = without_source(body)
        if key_of(ref) in seen:
            problems.append(Diagnostic(f"{ref}: rendered twice ({seen[key_of(ref)]}, {source})"))
            continue
        seen[key_of(ref)] = source
        subject = str(anns.get(SUBJECT_ANN, ""))
        marks = {k: str(anns.get(k, "")) for k in (OWNERSHIP_ANN, MERGE_ANN, CREATE_DEFAULTS_ANN)}
        body = without_annotations(body, marks)
        configured = is_configured(ref.kind) or marks[OWNERSHIP_ANN] == OWNERSHIP_FIELDS
        if configured:  # shared with other stacks or tools: no ownership labels
            body = without_ownership_labels(body)
        else:
            labels = {MANAGED_BY: "aiplane", STACK_LABEL: applyset.stack}
            body = with_labels(body, {**labels, **applyset.member_labels()})
        digest = desired_digest(body)
        paths = [p for p in marks[CREATE_DEFAULTS_ANN].split(",") if p] if configured else []
        body, defaults = split_defaults(body, paths)
        merge = MergeSpec.parse(marks[MERGE_ANN]) if configured else None
        out.append(Desired(ref, body, source, subject, digest, configured, merge, defaults))
    if problems:
        raise AiplaneError(f"{len(problems)} rendered object(s) are invalid", problems)
    return out


def _with_namespace(
    m: Mapping[str, Any], default_ns: str, scope: Scope, crds: Mapping[tuple[str, str], bool]
) -> Manifest:
    meta = m.get("metadata") or {}
    api_version, kind = str(m.get("apiVersion", "")), str(m.get("kind", ""))
    namespaced = scope(api_version, kind)
    if namespaced is None:
        namespaced = crds.get((api_version.rpartition("/")[0], kind))
    if namespaced and not meta.get("namespace"):
        return {**m, "metadata": {**meta, "namespace": default_ns}}
    if namespaced is False and meta.get("namespace"):
        return {**m, "metadata": {k: v for k, v in meta.items() if k != "namespace"}}
    return dict(m)


def without_source(body: Manifest) -> Manifest:
    """The source line stays in the plan, not in the cluster: moving a line must not be a change."""
    anns = (body.get("metadata") or {}).get("annotations") or {}
    if SOURCE_ANN not in anns:
        return body
    rest = {k: v for k, v in anns.items() if k != SOURCE_ANN}
    meta = {**body["metadata"], "annotations": rest}
    if not rest:
        del meta["annotations"]
    return {**body, "metadata": meta}


def without_annotations(body: Manifest, keys: Mapping[str, str]) -> Manifest:
    """``body`` without the render-only annotations ``keys`` (they steer aiplane, not the API)."""
    anns = (body.get("metadata") or {}).get("annotations") or {}
    if not any(k in anns for k in keys):
        return body
    rest = {k: v for k, v in anns.items() if k not in keys}
    meta = {**body["metadata"], "annotations": rest}
    if not rest:
        del meta["annotations"]
    return {**body, "metadata": meta}


def split_defaults(body: Manifest, paths: Sequence[str]) -> tuple[Manifest, Manifest | None]:
    """(``body`` without ``paths``, the identity plus ``paths``); (body, None) for no paths.
    A path written ``+a.b`` is copied, not moved: the schema needs it at create and the stack
    owns it too."""
    if not paths:
        return body, None
    kept = copy.deepcopy(body)
    meta = body.get("metadata") or {}
    defaults: Manifest = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {k: meta[k] for k in ("name", "namespace") if meta.get(k)},
    }
    for path in paths:
        copy_only = path.startswith("+")  # also this stack's: sent at create, and kept
        *parents, leaf = path.lstrip("+").split(".")
        source, target = kept, defaults
        for part in parents:
            if not isinstance(source.get(part), dict):
                break
            source = source[part]
            target = target.setdefault(part, {})
        else:
            if leaf in source and copy_only:
                target[leaf] = copy.deepcopy(source[leaf])
            elif leaf in source:
                target[leaf] = source.pop(leaf)
                _drop_empty(kept, parents)
    return kept, defaults


def _drop_empty(body: Manifest, parents: Sequence[str]) -> None:
    """Remove maps left empty along ``parents`` (an empty map would claim the field)."""
    for depth in range(len(parents), 0, -1):
        node: Any = body
        for part in parents[: depth - 1]:
            node = node[part]
        if node.get(parents[depth - 1]) == {}:
            del node[parents[depth - 1]]


def deep_merged(base: Mapping[str, Any], top: Mapping[str, Any]) -> Manifest:
    """``base`` with ``top`` laid over it, maps merged key by key."""
    out = dict(base)
    for key, value in top.items():
        below = out.get(key)
        if isinstance(below, Mapping) and isinstance(value, Mapping):
            out[key] = deep_merged(below, value)
        else:
            out[key] = value
    return out
