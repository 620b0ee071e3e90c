"""Route checks: backends name real models and versions, weights add up, chains are real."""

from __future__ import annotations

from aiplane.errors import Diagnostic
from aiplane.stack.checks import check_reference, check_unique
from aiplane.stack.loader import LoadedStack
from aiplane.stack.models import Route
from aiplane.stack.yamlpos import Path


def check_routes(loaded: LoadedStack) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    paths: dict[str, int] = {}
    for index, route in enumerate(loaded.stack.spec.routes):
        path: Path = ("spec", "routes", index)
        if route.path in paths:
            found.append(
                loaded.diagnostic(
                    (*path, "path"),
                    f"this path is already routed by routes[{paths[route.path]}]",
                )
            )
        paths.setdefault(route.path, index)
        found += check_unique(loaded, route.backends, (*path, "backends"), "backend")
        found += _check_backends(loaded, path, route)
        found += _check_weights(loaded, path, route)
        found += _check_named_backends(loaded, path, route)
    return found


def _check_backends(loaded: LoadedStack, path: Path, route: Route) -> list[Diagnostic]:
    spec = loaded.stack.spec
    found: list[Diagnostic] = []
    for index, backend in enumerate(route.backends):
        here = (*path, "backends", index)
        if backend.local:
            found += check_reference(
                loaded,
                backend.local.model,
                [m.name for m in spec.models],
                (*here, "local", "model"),
                "model",
            )
            model = spec.model(backend.local.model)
            if model and backend.local.version is not None:
                found += check_reference(
                    loaded,
                    backend.local.version,
                    [v.name for v in model.versions],
                    (*here, "local", "version"),
                    f"version of model {model.name}",
                )
                if not any(d.version == backend.local.version for d in model.deployments):
                    found.append(
                        loaded.diagnostic(
                            (*here, "local", "version"),
                            f"this version of model {model.name} is not deployed",
                            "add it to the model's deployments",
                        )
                    )
        if backend.external:
            ext = backend.external
            if ext.provider == "openai-compatible" and not ext.endpoint:
                found.append(
                    loaded.diagnostic((*here, "external"), "openai-compatible needs an endpoint")
                )
            if ext.provider != "openai-compatible" and ext.api_key_secret is None:
                found.append(
                    loaded.diagnostic(
                        (*here, "external"),
                        f"{ext.provider} needs credentials",
                        "add apiKeySecret: {name: <secret>, key: <key>}",
                    )
                )
    return found


def _check_weights(loaded: LoadedStack, path: Path, route: Route) -> list[Diagnostic]:
    weights = [b.weight for b in route.backends]
    if len(route.backends) == 1 and weights == [0]:
        return []  # a single backend takes everything
    total = sum(weights)
    if total == 100:
        return []
    parts = " + ".join(f"{b.name}={b.weight}" for b in route.backends)
    return [
        loaded.diagnostic(
            (*path, "backends"),
            f"backend weights of route {route.name} sum to {total}, not 100",
            parts,
        )
    ]


def _check_named_backends(loaded: LoadedStack, path: Path, route: Route) -> list[Diagnostic]:
    names = [b.name for b in route.backends]
    found: list[Diagnostic] = []
    if route.fallback:
        seen: set[str] = set()
        for index, name in enumerate(route.fallback.chain):
            here = (*path, "fallback", "chain", index)
            if name in seen:
                found.append(
                    loaded.diagnostic(here, f"backend {name} appears twice in the fallback chain")
                )
            seen.add(name)
            found += check_reference(loaded, name, names, here, f"backend of route {route.name}")
    for index, match in enumerate(route.header_matches):
        found += check_reference(
            loaded,
            match.backend,
            names,
            (*path, "headerMatches", index, "backend"),
            f"backend of route {route.name}",
        )
    if route.shadow:
        found += check_reference(
            loaded,
            route.shadow.backend,
            names,
            (*path, "shadow", "backend"),
            f"backend of route {route.name}",
        )
    return found
