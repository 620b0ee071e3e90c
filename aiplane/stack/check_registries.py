"""Registry checks: every registry reference has a registry of its type to resolve it.

The form of each reference is checked by the schema (``model_refs``); here the stack as a whole:
names, one default per type, a version's ``registry`` that exists and has the reference's type,
stages that promote an alias, and pipeline tracking that names an MLflow registry.
"""

from __future__ import annotations

from aiplane.errors import Diagnostic
from aiplane.stack.checks import check_reference, check_unique
from aiplane.stack.loader import LoadedStack
from aiplane.stack.model_refs import RegistryRef, parse_ref
from aiplane.stack.models import Model, ModelVersion, Registry, StackSpec


def check_registries(loaded: LoadedStack) -> list[Diagnostic]:
    spec = loaded.stack.spec
    found = check_unique(loaded, spec.registries, ("spec", "registries"), "registry")
    found += _one_default(loaded, spec)
    for m_index, model in enumerate(spec.models):
        for v_index, version in enumerate(model.versions):
            found += _check_version(loaded, spec, ("spec", "models", m_index, "versions", v_index),
                                    version)  # fmt: skip
        found += _check_promotions(loaded, spec, m_index, model)
    for p_index, pipeline in enumerate(spec.pipelines):
        tracking = pipeline.tracking
        if tracking is None or tracking.registry is None:
            continue
        path = ("spec", "pipelines", p_index, "tracking", "registry")
        known = [r.name for r in spec.registries if r.type == "mlflow"]
        found += check_reference(loaded, tracking.registry, known, path, "mlflow registry")
    return found


def _one_default(loaded: LoadedStack, spec: StackSpec) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    seen: dict[str, str] = {}
    for index, registry in enumerate(spec.registries):
        if not registry.default:
            continue
        if registry.type in seen:
            found.append(
                loaded.diagnostic(
                    ("spec", "registries", index, "default"),
                    f"registry {registry.name}: a second default {registry.type} registry",
                    f"{seen[registry.type]} is already the default",
                )
            )
        seen.setdefault(registry.type, registry.name)
    return found


def version_registry(spec: StackSpec, version: ModelVersion) -> Registry | None:
    """The registry that resolves ``version``'s reference (None for storage URIs or none found)."""
    ref = parse_ref(version.source)
    if ref is None:
        return None
    if version.registry is not None:
        return spec.registry(version.registry)
    return spec.default_registry(ref.type)


def _check_version(
    loaded: LoadedStack, spec: StackSpec, path: tuple[str | int, ...], version: ModelVersion
) -> list[Diagnostic]:
    ref = parse_ref(version.source)
    if ref is None:
        if version.registry is not None:
            return [
                loaded.diagnostic(
                    (*path, "registry"),
                    f"version {version.name}: registry is set but source is a storage URI",
                    "remove registry, or give a registry reference as source",
                )
            ]
        return []
    if version.registry is not None:
        registry = spec.registry(version.registry)
        if registry is None:
            known = [r.name for r in spec.registries]
            return check_reference(loaded, version.registry, known, (*path, "registry"), "registry")
        if registry.type != ref.type:
            return [
                loaded.diagnostic(
                    (*path, "registry"),
                    f"registry {registry.name} is a {registry.type} registry, "
                    f"but the source is a {ref.type} reference",
                )
            ]
        return []
    of_type = [r.name for r in spec.registries if r.type == ref.type]
    if not of_type:
        return [
            loaded.diagnostic(
                (*path, "source"),
                f"no {ref.type} registry to resolve '{version.source}'",
                f"add one to spec.registries (name, type: {ref.type}, uri)",
            )
        ]
    if spec.default_registry(ref.type) is None:
        return [
            loaded.diagnostic(
                (*path, "source"),
                f"several {ref.type} registries and none is the default",
                f"set registry: one of {', '.join(of_type)}, or default: true on one",
            )
        ]
    return []


def _check_promotions(
    loaded: LoadedStack, spec: StackSpec, m_index: int, model: Model
) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for d_index, dep in enumerate(model.deployments):
        if dep.promote_alias is None:
            continue
        path = ("spec", "models", m_index, "deployments", d_index, "promoteAlias")
        version = model.version(dep.version)
        ref: RegistryRef | None = parse_ref(version.source) if version else None
        if version is None:
            continue  # the unknown version is reported by the model checks
        if ref is None or ref.type != "mlflow" or ref.version is None:
            found.append(
                loaded.diagnostic(
                    path,
                    f"model {model.name} {dep.stage}: promoteAlias needs a pinned MLflow version "
                    f"as the source of {version.name}, not '{version.source}'",
                    "use mlflow://NAME/VERSION",
                )
            )
    return found
