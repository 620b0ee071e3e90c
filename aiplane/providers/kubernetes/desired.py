"""Rendered manifests prepared for planning: identity, ownership labels, source links, digests."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiplane.errors import AiplaneError, Diagnostic
from aiplane.providers.kubernetes.applyset import ApplySet
from aiplane.providers.kubernetes.labels import MANAGED_BY, SOURCE_ANN, STACK_LABEL, SUBJECT_ANN
from aiplane.providers.kubernetes.objects import (
    Manifest,
    ObjectRef,
    annotation,
    desired_digest,
    ref_of,
    with_labels,
)
from aiplane.providers.kubernetes.ownership import is_configured, without_ownership_labels

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

    @property
    def key(self) -> Key:
        return key_of(self.ref)


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
        source = annotation(body, SOURCE_ANN)
        body = without_source(body)
        if key_of(ref) in seen:
            problems.append(Diagnostic(f"{ref}: rendered twice ({seen[key_of(ref)]}, {source})"))
            continue
        seen[key_of(ref)] = source
        subject = annotation(body, SUBJECT_ANN)
        if is_configured(ref.kind):  # another tool's object: no ownership labels
            body = without_ownership_labels(body)
        else:
            labels = {MANAGED_BY: "aiplane", STACK_LABEL: applyset.stack}
            body = with_labels(body, {**labels, **applyset.member_labels()})
        out.append(Desired(ref, body, source, subject, desired_digest(body)))
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
