"""Envoy policy objects of an ``envoy-ai-gateway`` route: retries, health, rate limits, quotas.

* ``BackendTrafficPolicy/<route>`` (Envoy Gateway) on the HTTPRoute the AI gateway generates:
  retries (with a per-attempt timeout for the p99-latency trigger), passive outlier detection
  with ``maxEjectionPercent: 100`` (Envoy Gateway's default of 10 % ejects nothing among three
  backends) and ``failurePercentageThreshold`` for the error-rate trigger (Envoy applies it only
  with at least 5 hosts, which the capability table reports), connection limits, and the global
  per-key / per-organization rate limits.
* ``QuotaPolicy/<backend>-<limit>`` (Envoy AI Gateway v1alpha1) per backend limit: tokens per
  minute, requests per minute and a daily dollar budget (cost in nano-dollars from the backend's
  prices). An exhausted quota answers 429; Envoy AI Gateway does not fail over yet.
"""

from __future__ import annotations

import math

from aiplane.render.common import Context, Obj, k8s_name
from aiplane.render.route_backends import GW
from aiplane.stack.models import Backend, RateLimit, Route

EG = "gateway.envoyproxy.io"
AIG = "aigateway.envoyproxy.io"
# Where the AI gateway puts token usage for rate limiting (usage-based-ratelimiting.md).
USAGE_NAMESPACE = "io.envoy.ai_gateway"
TOTAL_TOKENS = "llm_total_token"
NANO_USD_PER_USD = 1_000_000_000


def _rate_rules(scope_header: str, limit: RateLimit) -> list[Obj]:
    selector = [{"headers": [{"name": scope_header, "type": "Distinct"}]}]
    rules: list[Obj] = []
    if limit.requests_per_minute:
        rules.append(
            {
                "clientSelectors": selector,
                "limit": {"requests": limit.requests_per_minute, "unit": "Minute"},
            }
        )
    if limit.tokens_per_minute:
        # Charged after the response from the gateway's token count; requests cost nothing.
        rules.append(
            {
                "clientSelectors": selector,
                "limit": {"requests": limit.tokens_per_minute, "unit": "Minute"},
                "cost": {
                    "request": {"from": "Number", "number": 0},
                    "response": {
                        "from": "Metadata",
                        "metadata": {"namespace": USAGE_NAMESPACE, "key": TOTAL_TOKENS},
                    },
                },
            }
        )
    return rules


def _retry(route: Route) -> Obj:
    retry: Obj = {
        "numRetries": route.connection.retries,
        "retryOn": {
            "triggers": ["connect-failure", "retriable-status-codes", "reset"],
            "httpStatusCodes": [429, 500, 502, 503, 504],
        },
        "perRetry": {"backOff": {"baseInterval": "100ms", "maxInterval": "10s"}},
    }
    if route.fallback:
        retry["numAttemptsPerPriority"] = 1
        latency = route.fallback.triggers.p99_latency_ms
        if latency is not None:
            # One attempt slower than the p99 target moves on: the closest Envoy has to p99.
            retry["perRetry"]["timeout"] = f"{latency}ms"
    return retry


def _passive_health(route: Route) -> Obj | None:
    if not route.fallback:
        return None
    triggers = route.fallback.triggers
    passive: Obj = {}
    if triggers.unhealthy:
        passive.update({"consecutive5XxErrors": 3, "interval": "10s", "baseEjectionTime": "30s"})
    if triggers.error_rate_percent is not None:
        passive["failurePercentageThreshold"] = math.ceil(triggers.error_rate_percent)
        passive.setdefault("interval", "10s")
        passive.setdefault("baseEjectionTime", "30s")
    if not passive:
        return None
    passive["maxEjectionPercent"] = 100
    return passive


def traffic_policy(ctx: Context, index: int, route: Route) -> Obj:
    conn = route.connection
    spec: Obj = {
        # The AI gateway generates an HTTPRoute with the AIGatewayRoute's name; attach to it.
        "targetRefs": [{"group": GW, "kind": "HTTPRoute", "name": route.name}],
        "retry": _retry(route),
        "circuitBreaker": {"maxConnections": conn.pool_size, "maxParallelRequests": conn.pool_size},
    }
    passive = _passive_health(route)
    if passive:
        spec["healthCheck"] = {"passive": passive}
    rules: list[Obj] = []
    limits = route.rate_limits
    if limits and limits.per_api_key:
        rules += _rate_rules(limits.api_key_header, limits.per_api_key)
    if limits and limits.per_organization:
        rules += _rate_rules(limits.organization_header, limits.per_organization)
    if rules:
        # Global limits need Envoy Gateway's rate-limit service (with Redis) enabled.
        spec["rateLimit"] = {"type": "Global", "global": {"rules": rules}}
    return {
        "apiVersion": f"{EG}/v1alpha1",
        "kind": "BackendTrafficPolicy",
        "metadata": ctx.meta(route.name, ("spec", "routes", index), f"route {route.name}"),
        "spec": spec,
    }


def _cost_expression(backend: Backend) -> str | None:
    """Nano-dollars per call from token counts (CEL, unsigned literals)."""
    if backend.price is None:
        return None
    per_in = round(backend.price.input_per_million_usd * 1000)
    per_out = round(backend.price.output_per_million_usd * 1000)
    return f"input_tokens * {per_in}u + output_tokens * {per_out}u"


def quota_policies(ctx: Context, index: int, route: Route, refs: dict[str, list[Obj]]) -> list[Obj]:
    """One QuotaPolicy per backend limit, attached to the backend's AIServiceBackends."""
    out: list[Obj] = []
    for b_index, backend in enumerate(route.backends):
        limits = backend.limits
        if limits is None or not refs.get(backend.name):
            continue
        path = ("spec", "routes", index, "backends", b_index, "limits")
        quotas: list[tuple[str, str | None, int, str]] = []
        if limits.tokens_per_minute:
            quotas.append(("tpm", "total_tokens", limits.tokens_per_minute, "1m"))
        if limits.requests_per_minute:
            quotas.append(("rpm", "1u", limits.requests_per_minute, "1m"))
        if limits.daily_budget_usd:
            cost = _cost_expression(backend)
            if cost is not None:  # without prices: reported by aiplane.gateway.capabilities
                budget = round(limits.daily_budget_usd * NANO_USD_PER_USD)
                quotas.append(("budget", cost, budget, "1d"))
        for suffix, cost_expr, limit, duration in quotas:
            out.append(_quota(ctx, path, route, backend, refs[backend.name], suffix,
                              cost_expr, limit, duration))  # fmt: skip
    return out


def _quota(
    ctx: Context,
    path: tuple[str | int, ...],
    route: Route,
    backend: Backend,
    refs: list[Obj],
    suffix: str,
    cost: str | None,
    limit: int,
    duration: str,
) -> Obj:
    quota: Obj = {"mode": "Shared", "defaultBucket": {"limit": limit, "duration": duration}}
    if cost:
        quota["costExpression"] = cost
    return {
        "apiVersion": f"{AIG}/v1alpha1",
        "kind": "QuotaPolicy",
        "metadata": ctx.meta(
            k8s_name(route.name, backend.name, suffix), path, f"route {route.name}"
        ),
        "spec": {
            "targetRefs": [
                {"group": AIG, "kind": "AIServiceBackend", "name": r["name"]} for r in refs
            ],
            # The model name must equal the route's modelNameOverride or the quota is ignored.
            "perModelQuotas": [
                {"modelName": m, "quota": quota}
                for m in dict.fromkeys(str(r["modelNameOverride"]) for r in refs)
            ],
        },
    }
