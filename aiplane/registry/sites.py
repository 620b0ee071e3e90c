"""Where a stack uses registry references: one ``Site`` per model version with one."""

from __future__ import annotations

from dataclasses import dataclass

from aiplane.providers.resolved import RefKey
from aiplane.stack.check_registries import version_registry
from aiplane.stack.loader import LoadedStack
from aiplane.stack.model_refs import RegistryRef, parse_ref
from aiplane.stack.models import Model, ModelVersion, Registry
from aiplane.stack.yamlpos import Path


@dataclass(frozen=True)
class Site:
    """A model version whose source is a registry reference, and the registry resolving it."""

    model: Model
    version: ModelVersion
    ref: RegistryRef
    registry: Registry
    path: Path
    """Stack path of the version's ``source`` (where errors point)."""

    @property
    def key(self) -> RefKey:
        return RefKey(self.registry.name, self.version.source)

    @property
    def stages(self) -> list[str]:
        """The stages that deploy this version."""
        return [d.stage for d in self.model.deployments if d.version == self.version.name]

    @property
    def subject(self) -> str:
        """``model llama-70b production`` (or the version label when no stage deploys it)."""
        where = "/".join(self.stages) or self.version.name
        return f"model {self.model.name} {where}"


def reference_sites(loaded: LoadedStack) -> list[Site]:
    """Every registry reference of a checked stack, in file order."""
    spec = loaded.stack.spec
    out: list[Site] = []
    for m_index, model in enumerate(spec.models):
        for v_index, version in enumerate(model.versions):
            ref = parse_ref(version.source)
            registry = version_registry(spec, version)
            if ref is None or registry is None:
                continue
            path = ("spec", "models", m_index, "versions", v_index, "source")
            out.append(Site(model, version, ref, registry, path))
    return out
