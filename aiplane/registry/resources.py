"""The MLflow provider's resources for a stack: pinned references and promoted aliases (pure)."""

from __future__ import annotations

from typing import Any

from aiplane.plan.address import Address
from aiplane.providers.base import Resource
from aiplane.providers.mlflow.provider import ALIAS, PROVIDER, REFERENCE
from aiplane.registry.resolve import Resolution
from aiplane.registry.sites import reference_sites
from aiplane.stack.check_registries import version_registry
from aiplane.stack.loader import LoadedStack
from aiplane.stack.model_refs import parse_ref
from aiplane.stack.models import Registry


def connection(registry: Registry) -> dict[str, Any]:
    """How the provider reaches the registry (no secret: only the token's variable name)."""
    creds, tls = registry.credentials, registry.tls
    return {
        "uri": registry.uri,
        "token_env": (creds.env if creds else None) or "MLFLOW_TRACKING_TOKEN",
        "ca_file": tls.ca_file if tls else None,
        "insecure": bool(tls and tls.insecure_skip_verify),
    }


def registry_resources(loaded: LoadedStack, resolution: Resolution) -> list[Resource]:
    """A ``reference`` per resolved MLflow reference and an ``alias`` per promoting stage."""
    moves = {m.site.key: m for m in resolution.moves}
    out: list[Resource] = []
    for site in reference_sites(loaded):
        entry = resolution.resolved.get(site.key)
        if site.registry.type != "mlflow" or entry is None:
            continue
        body: dict[str, Any] = {"connection": connection(site.registry), "model": site.ref.model,
                                "alias": site.ref.alias, "version": entry.version}  # fmt: skip
        move = moves.get(site.key)
        if move is not None and move.before is not None:
            body["moved_from"] = move.before.version
            body["move_line"] = move.line()
        address = Address(PROVIDER, REFERENCE, site.registry.name, site.version.source)
        out.append(Resource(address, body, loaded.source_ref(site.path), site.subject))
    out += _promotions(loaded)
    return out


def _promotions(loaded: LoadedStack) -> list[Resource]:
    spec = loaded.stack.spec
    out: list[Resource] = []
    for m_index, model in enumerate(spec.models):
        for d_index, dep in enumerate(model.deployments):
            version = model.version(dep.version)
            if dep.promote_alias is None or version is None:
                continue
            ref, registry = parse_ref(version.source), version_registry(spec, version)
            if ref is None or ref.version is None or registry is None:
                continue  # refused by the stack checks
            body = {"connection": connection(registry), "model": ref.model,
                    "alias": dep.promote_alias, "version": ref.version}  # fmt: skip
            address = Address(PROVIDER, ALIAS, registry.name, f"{ref.model}@{dep.promote_alias}")
            path = ("spec", "models", m_index, "deployments", d_index, "promoteAlias")
            subject = f"model {model.name} {dep.stage}"
            out.append(Resource(address, body, loaded.source_ref(path), subject))
    return out
