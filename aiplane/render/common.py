"""Shared pieces of every render target: metadata, naming, ordering and warnings.

Every rendered object carries the same ownership labels and the two annotations that map it back to
the stack (``aiplane.dev/source`` and ``aiplane.dev/subject``), so they are built here once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiplane.errors import Diagnostic
from aiplane.providers.base import Resolution, Resource
from aiplane.providers.kubernetes.kind_table import facts
from aiplane.providers.kubernetes.labels import (
    MANAGED_BY,
    OWNERSHIP_ANN,
    OWNERSHIP_FIELDS,
    SOURCE_ANN,
    STACK_LABEL,
    SUBJECT_ANN,
)
from aiplane.stack.check_registries import version_registry
from aiplane.stack.loader import LoadedStack
from aiplane.stack.model_refs import resolution_key
from aiplane.stack.models import GpuPool, ModelVersion, Taint
from aiplane.stack.yamlpos import Path

Obj = dict[str, Any]

GPU_OPERATOR_NAMESPACE = "gpu-operator"
SOURCE, SUBJECT = SOURCE_ANN, SUBJECT_ANN


@dataclass
class Context:
    """What a target needs besides the stack: where things are and a place for warnings."""

    loaded: LoadedStack
    warnings: list[Diagnostic] = field(default_factory=list)
    # Results several targets share (the GPU placement plan), computed once per render.
    cache: dict[str, Any] = field(default_factory=dict)
    # Registry references resolved before render (the data sources), by ``resolution_key``.
    resolved: Mapping[str, Resolution] = field(default_factory=dict)
    # Resources for providers other than Kubernetes (a vector database's collections, a
    # registry's aliases): a target adds them with ``add``; Kubernetes objects are returned.
    resources: list[Resource] = field(default_factory=list)

    def add(self, resource: Resource) -> None:
        """Render ``resource`` for its provider (its address names the provider)."""
        self.resources.append(resource)

    def resolution(self, version: ModelVersion) -> Resolution | None:
        """What ``version``'s registry reference resolved to; None for storage URIs or unresolved."""
        registry = version_registry(self.loaded.stack.spec, version)
        if registry is None:
            return None
        return self.resolved.get(resolution_key(registry.name, version.source))

    @property
    def namespace(self) -> str:
        return self.loaded.stack.metadata.namespace

    @property
    def stack_name(self) -> str:
        return self.loaded.stack.metadata.name

    def warn(self, path: Path, message: str, hint: str = "") -> None:
        self.warnings.append(self.loaded.diagnostic(path, message, hint, warning=True))

    def meta(
        self,
        name: str,
        path: Path,
        subject: str,
        *,
        namespace: str | None = "",
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> Obj:
        """``metadata`` for an owned object; ``namespace=""`` means the stack's, None cluster-scoped."""
        out: Obj = {"name": name}
        if namespace is not None:
            out["namespace"] = namespace or self.namespace
        out["labels"] = {
            **self.loaded.stack.metadata.labels,
            **(labels or {}),
            MANAGED_BY: "aiplane",
            STACK_LABEL: self.stack_name,
        }
        out["annotations"] = {
            **(annotations or {}),
            SOURCE: self.loaded.source_ref(path),
            SUBJECT: subject,
        }
        return out

    def shared_meta(
        self, name: str, path: Path, subject: str, *, namespace: str | None,
        annotations: dict[str, str] | None = None,
    ) -> Obj:  # fmt: skip
        """``metadata`` of an object other stacks (or another tool) share: no labels that would
        claim it for this stack, and the mark that makes each stack own only its fields."""
        meta = self.meta(name, path, subject, namespace=namespace,
                         annotations={**(annotations or {}), OWNERSHIP_ANN: OWNERSHIP_FIELDS})  # fmt: skip
        del meta["labels"]  # the stack's own labels too: another stack's would differ
        return meta


def k8s_name(*parts: str, limit: int = 63) -> str:
    """A DNS-1123 label from parts; over-long names keep a hash suffix so they stay unique."""
    raw = "-".join(p for p in parts if p)
    name = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")
    name = re.sub(r"-+", "-", name)
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-')}-{digest}"


def tolerations(pool: GpuPool | None) -> list[Obj]:
    """Tolerations matching the pool's taints, so pods may land on its nodes."""
    return [_toleration(t) for t in pool.taints] if pool else []


def _toleration(taint: Taint) -> Obj:
    if taint.value:
        return {"key": taint.key, "operator": "Equal", "value": taint.value, "effect": taint.effect}
    return {"key": taint.key, "operator": "Exists", "effect": taint.effect}


def quantity(value: str | int | float) -> str:
    """Kubernetes wants quantities as strings in manifests; ``4`` and ``4.0`` both become "4"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def sort_key(obj: Obj) -> tuple[int, str, str]:
    rank = facts(obj.get("kind", "")).rank
    meta = obj.get("metadata", {})
    return rank, meta.get("namespace", ""), meta.get("name", "")


_TOP_ORDER = ("apiVersion", "kind", "metadata", "spec", "data")


def canonical(value: Any, top: bool = False) -> Any:
    """Stable key order: apiVersion/kind/metadata/spec first at the top, alphabetical below.

    Sorting nested keys (as ``kubectl get -o yaml`` does) makes the output independent of the
    order in which a target happened to build its dicts, so re-renders diff cleanly.
    """
    if isinstance(value, dict):
        keys = sorted(value)
        if top:
            keys = [k for k in _TOP_ORDER if k in value] + [k for k in keys if k not in _TOP_ORDER]
        return {k: canonical(value[k]) for k in keys}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def accelerator(pool: GpuPool | None, gpus: int, mig_profile: str | None) -> tuple[str, int]:
    """The extended resource and count a pod asks for: whole GPUs or one MIG slice.

    Under the ``mixed`` strategy each profile is its own resource (``nvidia.com/mig-3g.40gb``);
    under ``single`` every slice is advertised as ``nvidia.com/gpu``. Time-slicing with
    ``renameByDefault`` adds the ``.shared`` suffix the device plugin advertises then.
    """
    from aiplane.gpu.catalog import get_gpu

    key, count = "nvidia.com/gpu", gpus
    if mig_profile:
        count = 1
        gpu = get_gpu(pool.gpu) if pool else None
        profile = gpu.profile(mig_profile) if gpu else None
        if pool is not None and pool.mig.strategy == "mixed" and profile is not None:
            key = profile.resource_name
    if pool is not None and pool.time_slicing is not None and pool.time_slicing.rename_by_default:
        key += ".shared"
    return key, count
