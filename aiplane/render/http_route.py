"""A route without AI policy → one Gateway API ``HTTPRoute`` (see ``routes.py`` for the design)."""

from __future__ import annotations

from aiplane.render.common import Context, Obj, k8s_name
from aiplane.render.route_backends import (
    GW,
    effective_weights,
    local_targets,
    parent_ref,
    warn_connection,
)
from aiplane.render.vllm import service_name
from aiplane.render.vllm_pod import PORT
from aiplane.render.weight_terms import weights_annotation
from aiplane.stack.models import Backend, Route


def _service_refs(ctx: Context, index: int, backend: Backend, weight: int) -> list[Obj]:
    return [
        {"name": service_name(model, stage), "port": PORT, "weight": weight * share}
        for model, stage, share in local_targets(ctx, index, backend)
    ]


def route_terms(ctx: Context, route: Route) -> dict[str, str]:
    """Ref name -> ``<backend>`` or ``<backend> <version>``: what the stack calls a destination."""
    spec = ctx.loaded.stack.spec
    out: dict[str, str] = {}
    for backend in route.backends:
        out[k8s_name(route.name, backend.name)] = backend.name
        model = spec.model(backend.local.model) if backend.local else None
        for d in model.deployments if model else []:
            out[service_name(model.name, d.stage)] = f"{backend.name} {d.version}"  # type: ignore[union-attr]
    return out


def render_http_route(ctx: Context, index: int, route: Route) -> list[Obj]:
    path_match = {"path": {"type": "PathPrefix", "value": route.path}}
    timeouts = {"request": f"{route.connection.timeout_seconds}s"}
    by_name = {b.name: b for b in route.backends}
    weights = effective_weights(route)
    rules: list[Obj] = []
    for m_index, match in enumerate(route.header_matches):
        header = {"type": "Exact", "name": match.header, "value": match.value}
        rules.append(
            {
                "name": k8s_name("ab", str(m_index)),
                "matches": [{**path_match, "headers": [header]}],
                "backendRefs": _service_refs(ctx, index, by_name[match.backend], 1),
                "timeouts": timeouts,
            }
        )
    main: Obj = {
        "name": "split",
        "matches": [path_match],
        "backendRefs": [
            r
            for b in route.backends
            if weights[b.name]
            for r in _service_refs(ctx, index, b, weights[b.name])
        ],
        "timeouts": timeouts,
    }
    if route.shadow:
        mirrors = _service_refs(ctx, index, by_name[route.shadow.backend], 1)
        main["filters"] = [
            {
                "type": "RequestMirror",
                "requestMirror": {
                    "backendRef": {"name": m["name"], "port": PORT},
                    "percent": route.shadow.percent,
                },
            }
            for m in mirrors
        ]
    rules.append(main)
    warn_connection(ctx, index, route, ai=False)
    terms = route_terms(ctx, route)
    return [
        {
            "apiVersion": f"{GW}/v1",
            "kind": "HTTPRoute",
            "metadata": ctx.meta(
                route.name,
                ("spec", "routes", index),
                f"route {route.name}",
                annotations=weights_annotation(main["backendRefs"], terms),
            ),
            "spec": {"parentRefs": [parent_ref(route, ai=False)], "rules": rules},
        }
    ]
