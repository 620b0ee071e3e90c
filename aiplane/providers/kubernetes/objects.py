"""Object identity and the annotations/labels that tie rendered objects to the stack."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from aiplane.plan.address import Address
from aiplane.plan.model import digest_of
from aiplane.providers.base import Resource
from aiplane.providers.kubernetes.labels import (
    MANAGED_BY,
    NODE_LABELS_KIND,
    PART_OF,
    SOURCE_ANN,
    STACK_LABEL,
    SUBJECT_ANN,
)

Manifest = dict[str, Any]

PROVIDER = "kubernetes"
NODE_LABELS_PROVIDER = "node-labels"

# fields the server owns; never compared
_SERVER_META: tuple[str, ...] = (
    "managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"
)  # fmt: skip


@dataclass(frozen=True, order=True)
class ObjectRef:
    """Identity of one object: apiVersion, kind, namespace ("" for cluster-scoped), name."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def group_kind(self) -> str:
        """``Deployment.apps``; core kinds have no group suffix (ApplySet convention)."""
        return group_kind_of(self.api_version, self.kind)

    def __str__(self) -> str:
        parts = [self.kind, self.namespace, self.name] if self.namespace else [self.kind, self.name]
        return "/".join(parts)

    def to_json(self) -> dict[str, str]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, str]) -> ObjectRef:
        return cls(doc["apiVersion"], doc["kind"], doc.get("namespace", ""), doc["name"])

    @cached_property
    def address(self) -> Address:
        """The plan address: provider ``node-labels`` for NodeLabels, else ``kubernetes``; type
        ``apiVersion/kind``; scope the namespace."""
        provider = NODE_LABELS_PROVIDER if self.kind == NODE_LABELS_KIND else PROVIDER
        return Address(provider, f"{self.api_version}/{self.kind}", self.namespace, self.name)

    @classmethod
    def of(cls, address: Address) -> ObjectRef:
        """The object an address names (the inverse of ``address``)."""
        api_version, _, kind = address.type.rpartition("/")
        return cls(api_version, kind, address.scope, address.name)


def group_kind_of(api_version: str, kind: str) -> str:
    """``Deployment.apps`` for ``apps/v1`` ``Deployment``; ``ConfigMap`` for ``v1``."""
    group = api_version.rpartition("/")[0]
    return f"{kind}.{group}" if group else kind


def ref_of(obj: Mapping[str, Any]) -> ObjectRef:
    meta = obj.get("metadata") or {}
    return ObjectRef(
        str(obj.get("apiVersion", "")),
        str(obj.get("kind", "")),
        str(meta.get("namespace") or ""),
        str(meta.get("name", "")),
    )


def annotation(obj: Mapping[str, Any], key: str, default: str = "") -> str:
    anns = (obj.get("metadata") or {}).get("annotations") or {}
    return str(anns.get(key, default))


def label(obj: Mapping[str, Any], key: str, default: str = "") -> str:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return str(labels.get(key, default))


def strip_server_fields(obj: Mapping[str, Any]) -> Manifest:
    """A copy without status and server-written metadata: what we compare."""
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_META}
    out["metadata"] = meta
    return out


digest = digest_of


def live_fingerprint(obj: Mapping[str, Any]) -> str | None:
    """Digest of a live object's content (not status, not server metadata).

    None for Secrets: nothing derived from a secret value is ever written to a plan file (a hash
    of a weak password can be brute-forced), so a Secret is pinned by resourceVersion alone.
    """
    if is_secret(ref_of(obj)):
        return None
    return digest(strip_server_fields(obj))


def desired_digest(body: Mapping[str, Any]) -> str:
    """Digest of a desired object for the saved plan; a Secret's values are left out (see
    ``live_fingerprint``): its keys and other fields are pinned, its values are not."""
    if body.get("kind") == "Secret" and is_secret(ref_of(body)):
        from aiplane.secrets import redact_secret_object

        return digest(redact_secret_object(body))
    return digest(body)


def with_labels(obj: Mapping[str, Any], labels: Mapping[str, str]) -> Manifest:
    """A copy of ``obj`` with ``labels`` merged into ``metadata.labels``.

    Only the metadata is copied; the rest is shared with ``obj`` (bodies are never mutated in
    place: code that edits one deep-copies it first).
    """
    meta = dict(obj.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    return {**obj, "metadata": meta}


def is_secret(ref: ObjectRef) -> bool:
    return ref.kind == "Secret" and ref.api_version == "v1"


_BOOKKEEPING = (MANAGED_BY, STACK_LABEL, PART_OF, SUBJECT_ANN)


def shown_body(obj: Mapping[str, Any]) -> Manifest:
    """What a create/replace diff shows: no apiVersion/kind/name/namespace (in the header) and
    none of aiplane's own bookkeeping labels and annotations."""
    out = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in ("name", "namespace")}
    for field in ("labels", "annotations"):
        kept = {k: v for k, v in (meta.get(field) or {}).items() if k not in _BOOKKEEPING}
        if kept:
            meta[field] = kept
        else:
            meta.pop(field, None)
    if meta:
        out["metadata"] = meta
    else:
        out.pop("metadata", None)
    return out


def resources_of(manifests: Iterable[Mapping[str, Any]]) -> list[Resource]:
    """Rendered manifests as plan resources: ``NodeLabels`` go to the node-labels provider, every
    other object to Kubernetes; source and subject come from the render annotations."""
    return [
        Resource(ref_of(m).address, m, annotation(m, SOURCE_ANN), annotation(m, SUBJECT_ANN))
        for m in manifests
    ]
