"""Helpers the two route renderers share: parent refs, effective weights, local backends."""

from __future__ import annotations

from aiplane.render.common import Context, Obj
from aiplane.render.vllm import stage_weights
from aiplane.stack.models import Backend, Route

GW = "gateway.networking.k8s.io"


def parent_ref(route: Route, ai: bool) -> Obj:
    ref: Obj = {"name": route.gateway.name}
    if ai:
        ref.update({"group": GW, "kind": "Gateway"})
    if route.gateway.namespace:
        ref["namespace"] = route.gateway.namespace
    return ref


def local_targets(ctx: Context, route_index: int, backend: Backend) -> list[tuple[str, str, int]]:
    """(model, stage, weight per 100 of the backend) for a local backend."""
    assert backend.local is not None
    model = ctx.loaded.stack.spec.model(backend.local.model)
    b_index = ctx.loaded.stack.spec.routes[route_index].backends.index(backend)
    path = ("spec", "routes", route_index, "backends", b_index, "local")
    if model is None:
        ctx.warn(path, f"model '{backend.local.model}' is not in the stack; backend skipped")
        return []
    if backend.local.version:
        dep = next((d for d in model.deployments if d.version == backend.local.version), None)
        if dep is None:
            ctx.warn(
                (*path, "version"),
                f"{model.name} {backend.local.version} is not deployed; backend skipped",
            )
            return []
        return [(model.name, dep.stage, 100)]
    return [(model.name, d.stage, w) for d, w in stage_weights(model) if w > 0]


def effective_weights(route: Route) -> dict[str, int]:
    """Backend weights; when none is given, the backends that take ordinary traffic share it.

    Backends named only by a header match, a shadow or as a later fallback stay at 0 then.
    """
    if any(b.weight for b in route.backends):
        return {b.name: b.weight for b in route.backends}
    special = {m.backend for m in route.header_matches}
    if route.shadow:
        special.add(route.shadow.backend)
    if route.fallback:
        special.update(route.fallback.chain[1:])
    main = [b.name for b in route.backends if b.name not in special]
    if not main:
        main = [route.fallback.chain[0]] if route.fallback else [b.name for b in route.backends]
    return {b.name: int(b.name in main) for b in route.backends}


def warn_connection(ctx: Context, index: int, route: Route, *, ai: bool) -> None:
    conn = route.connection
    path = ("spec", "routes", index, "connection")
    explicit = conn.model_fields_set & {"retries", "pool_size"}
    if not ai and explicit:
        # Retries and pool sizes live in Envoy Gateway policy, not in standard HTTPRoute.
        ctx.warn(path, "connection retries/poolSize are not expressible in a standard HTTPRoute")
    if not conn.streaming:
        ctx.warn((*path, "streaming"), "streaming: false cannot be enforced by the gateway")
