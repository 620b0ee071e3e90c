"""What each AI gateway target does with each route field, as data.

Every route field that carries policy has one entry per target: ``enforced``, ``approximated``
(with how), ``not-expressible`` (dropped, with why) or ``needs-database`` (LiteLLM keeps per-key
and per-team limits in its Postgres database, which aiplane does not run). ``check_gateway``
turns the entries of the fields a stack sets into located diagnostics: warnings, or errors under
``spec.gateway.strict``. Renderers read the same table, so what ``validate`` says is what the
rendered output does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from aiplane.errors import Diagnostic
from aiplane.stack.loader import LoadedStack
from aiplane.stack.models import Route, StackSpec
from aiplane.stack.sections.gateway import GatewayTarget
from aiplane.stack.yamlpos import Path

Status = Literal["enforced", "approximated", "not-expressible", "needs-database"]


@dataclass(frozen=True)
class Capability:
    status: Status
    how: str = ""


E = Capability("enforced")

_LITELLM_DB = (
    "LiteLLM enforces it per virtual key/team, which lives in its Postgres database; "
    "aiplane renders it as key/team settings in ConfigMap <proxy>-db-limits"
)
_BUDGET_AFTER = "the call that crosses the budget is still served: spend is counted after a call"
_QUOTA_429 = (
    "QuotaPolicy on the AIServiceBackend; when it runs out Envoy answers 429 and does not fail "
    "over to the next backend"
)

CAPABILITIES: dict[str, dict[GatewayTarget, Capability]] = {
    "backends.weight": {"litellm": E, "envoy-ai-gateway": E},
    "backends.limits.requestsPerMinute": {
        "litellm": Capability("enforced", "deployment rpm with pre-call checks; full → next"),
        "envoy-ai-gateway": Capability("approximated", _QUOTA_429),
    },
    "backends.limits.tokensPerMinute": {
        "litellm": Capability("enforced", "deployment tpm with pre-call checks; full → next"),
        "envoy-ai-gateway": Capability("approximated", _QUOTA_429),
    },
    "backends.limits.dailyBudgetUsd": {
        "litellm": Capability("approximated", f"deployment max_budget per 1d; {_BUDGET_AFTER}"),
        "envoy-ai-gateway": Capability(
            "approximated", _QUOTA_429 + " (cost in nano-dollars from the backend price)"
        ),
    },
    "fallback.chain": {
        "litellm": Capability(
            "approximated",
            "a request goes to a backend by weight; when it fails, the chain members after the "
            "chain's first are tried in declared order; while a backend cools down its share "
            "goes to the other weighted backends by weight",
        ),
        "envoy-ai-gateway": Capability(
            "approximated",
            "weighted backends share priority 0 and retry on each other by weight; only "
            "weight-0 chain members get later priorities in chain order",
        ),
    },
    "fallback.triggers.errorRatePercent": {
        "litellm": Capability(
            "approximated",
            "DEFAULT_FAILURE_THRESHOLD_PERCENT: a backend failing more than this share of its "
            "calls within a minute (at least 5 calls) cools down; one value for the whole proxy "
            "(the lowest of its routes)",
        ),
        "envoy-ai-gateway": Capability(
            "approximated",
            "failurePercentageThreshold, which Envoy applies only with at least 5 hosts and 50 "
            "requests per interval; below that only consecutive 5xx eject a backend",
        ),
    },
    "fallback.triggers.p99LatencyMs": {
        "litellm": Capability("approximated", "a per-attempt timeout: one slow call fails over"),
        "envoy-ai-gateway": Capability(
            "approximated", "retry.perRetry.timeout: one slow attempt fails over"
        ),
    },
    "fallback.triggers.unhealthy": {
        "litellm": Capability("approximated", "failing backends cool down (passive, no probes)"),
        "envoy-ai-gateway": Capability("enforced", "passive outlier detection"),
    },
    "rateLimits.perApiKey.requestsPerMinute": {
        "litellm": Capability("needs-database", _LITELLM_DB),
        "envoy-ai-gateway": Capability("enforced", "global rate limit (needs Redis)"),
    },
    "rateLimits.perApiKey.tokensPerMinute": {
        "litellm": Capability("needs-database", _LITELLM_DB),
        "envoy-ai-gateway": Capability("enforced", "global rate limit charged by token usage"),
    },
    "rateLimits.perApiKey.dailyBudgetUsd": {
        "litellm": Capability("needs-database", _LITELLM_DB),
        "envoy-ai-gateway": Capability("not-expressible", "no per-key dollar cost is rendered"),
    },
    "rateLimits.perOrganization.requestsPerMinute": {
        "litellm": Capability("needs-database", _LITELLM_DB + " (organizations map to teams)"),
        "envoy-ai-gateway": Capability("enforced", "global rate limit (needs Redis)"),
    },
    "rateLimits.perOrganization.tokensPerMinute": {
        "litellm": Capability("needs-database", _LITELLM_DB + " (organizations map to teams)"),
        "envoy-ai-gateway": Capability("enforced", "global rate limit charged by token usage"),
    },
    "rateLimits.perOrganization.dailyBudgetUsd": {
        "litellm": Capability("needs-database", _LITELLM_DB + " (organizations map to teams)"),
        "envoy-ai-gateway": Capability("not-expressible", "no per-org dollar cost is rendered"),
    },
    "dailyBudgetUsd": {
        "litellm": Capability("needs-database", _LITELLM_DB + " (a team budget)"),
        "envoy-ai-gateway": Capability("not-expressible", "no route-wide spend counter"),
    },
    "headerMatches": {
        "litellm": Capability("not-expressible", "LiteLLM routes on the model name, not headers"),
        "envoy-ai-gateway": E,
    },
    "shadow": {
        "litellm": Capability("not-expressible", "LiteLLM has no request mirroring"),
        "envoy-ai-gateway": Capability("not-expressible", "AIGatewayRoute has no mirroring"),
    },
    "connection.poolSize": {
        "litellm": Capability("approximated", "max_parallel_requests per backend"),
        "envoy-ai-gateway": Capability("enforced", "circuitBreaker"),
    },
    "connection.timeoutSeconds": {"litellm": E, "envoy-ai-gateway": E},
    "connection.retries": {
        "litellm": Capability("enforced", "num_retries on each fallback step"),
        "envoy-ai-gateway": E,
    },
    "connection.streaming": {
        "litellm": Capability("not-expressible", "streaming cannot be refused"),
        "envoy-ai-gateway": Capability("not-expressible", "streaming cannot be refused"),
    },
    "gateway.providerBudgetsUsd": {
        "litellm": Capability("approximated", f"provider_budget_config per 1d; {_BUDGET_AFTER}"),
        "envoy-ai-gateway": Capability("not-expressible", "quotas count per backend only"),
    },
}


def route_target(spec: StackSpec, route: Route) -> GatewayTarget:
    """The gateway that enforces ``route``: its own choice, else the stack's."""
    return route.gateway.target or spec.gateway.target


def needs_ai_gateway(route: Route) -> bool:
    """A route with AI policy; on Envoy, others are a plain Gateway API HTTPRoute."""
    return bool(
        any(b.external or b.limits for b in route.backends)
        or route.fallback
        or route.rate_limits
        or route.daily_budget_usd
    )


def set_fields(route: Route) -> Iterator[tuple[str, Path]]:
    """(table key, path inside the route) for every policy field the route sets."""
    for i, b in enumerate(route.backends):
        if b.weight:
            yield "backends.weight", ("backends", i, "weight")
        limits = b.limits
        for key, value in (
            ("requestsPerMinute", limits and limits.requests_per_minute),
            ("tokensPerMinute", limits and limits.tokens_per_minute),
            ("dailyBudgetUsd", limits and limits.daily_budget_usd),
        ):
            if value:
                yield f"backends.limits.{key}", ("backends", i, "limits", key)
    if route.fallback:
        yield "fallback.chain", ("fallback", "chain")
        t = route.fallback.triggers
        if t.error_rate_percent is not None:
            yield "fallback.triggers.errorRatePercent", ("fallback", "triggers", "errorRatePercent")
        if t.p99_latency_ms is not None:
            yield "fallback.triggers.p99LatencyMs", ("fallback", "triggers", "p99LatencyMs")
        if t.unhealthy and "unhealthy" in t.model_fields_set:  # the default alone is no request
            yield "fallback.triggers.unhealthy", ("fallback", "triggers", "unhealthy")
    yield from _rate_limit_fields(route)
    if route.daily_budget_usd:
        yield "dailyBudgetUsd", ("dailyBudgetUsd",)
    if route.header_matches:
        yield "headerMatches", ("headerMatches",)
    if route.shadow:
        yield "shadow", ("shadow",)
    conn = route.connection
    if "pool_size" in conn.model_fields_set:
        yield "connection.poolSize", ("connection", "poolSize")
    if not conn.streaming:
        yield "connection.streaming", ("connection", "streaming")


def _rate_limit_fields(route: Route) -> Iterator[tuple[str, Path]]:
    limits = route.rate_limits
    if limits is None:
        return
    for scope, limit in (
        ("perApiKey", limits.per_api_key),
        ("perOrganization", limits.per_organization),
    ):
        if limit is None:
            continue
        for key, value in (
            ("requestsPerMinute", limit.requests_per_minute),
            ("tokensPerMinute", limit.tokens_per_minute),
            ("dailyBudgetUsd", limit.daily_budget_usd),
        ):
            if value:
                yield f"rateLimits.{scope}.{key}", ("rateLimits", scope, key)


def capability(key: str, target: GatewayTarget) -> Capability:
    return CAPABILITIES[key][target]


def describe(key: str, target: GatewayTarget, cap: Capability) -> str:
    """``errorRatePercent is approximated on litellm: ...`` (the diagnostic's message)."""
    field = key.rsplit(".", 1)[-1]
    words = {
        "approximated": "is approximated",
        "not-expressible": "is not expressible (dropped)",
        "needs-database": "needs the LiteLLM database (not enforced)",
        "enforced": "is enforced",
    }[cap.status]
    return f"{field} {words} on {target}" + (f": {cap.how}" if cap.how else "")


def check_gateway(loaded: LoadedStack) -> list[Diagnostic]:
    """One diagnostic per route field its target does not enforce (errors when strict)."""
    spec = loaded.stack.spec
    strict = spec.gateway.strict
    found: list[Diagnostic] = []

    def note(path: Path, key: str, target: GatewayTarget) -> None:
        cap = capability(key, target)
        if cap.status == "enforced":
            return
        hint = "spec.gateway.strict forbids unenforced fields" if strict else ""
        found.append(loaded.diagnostic(path, describe(key, target, cap), hint, warning=not strict))

    for index, route in enumerate(spec.routes):
        target = route_target(spec, route)
        if target == "envoy-ai-gateway" and not needs_ai_gateway(route):
            continue  # a plain HTTPRoute: weights, header matches and mirrors are all native
        for key, sub in set_fields(route):
            note(("spec", "routes", index, *sub), key, target)
        found += _backend_notes(loaded, index, route, target)
    found += _check_litellm(loaded)
    if spec.gateway.provider_budgets_usd:
        targets = {route_target(spec, r) for r in spec.routes} or {spec.gateway.target}
        for target in sorted(targets):
            note(("spec", "gateway", "providerBudgetsUsd"), "gateway.providerBudgetsUsd", target)
    return found


def _backend_notes(
    loaded: LoadedStack, index: int, route: Route, target: GatewayTarget
) -> list[Diagnostic]:
    """Per-backend consequences of how each target places a backend."""
    strict = loaded.stack.spec.gateway.strict
    chain = route.fallback.chain[1:] if route.fallback else []
    found: list[Diagnostic] = []
    for b_index, backend in enumerate(route.backends):
        path: Path = ("spec", "routes", index, "backends", b_index, "limits")
        limits = backend.limits
        if limits is None:
            continue
        if target == "envoy-ai-gateway" and limits.daily_budget_usd and backend.price is None:
            found.append(
                loaded.diagnostic(
                    (*path, "dailyBudgetUsd"),
                    f"backend {backend.name}: a budget on envoy-ai-gateway needs token prices; "
                    "no QuotaPolicy is rendered for it (dropped)",
                    "add price: {inputPerMillionUsd: ..., outputPerMillionUsd: ...}",
                    warning=not strict,
                )
            )
        if target == "litellm" and backend.weight and backend.name in chain:
            found.append(
                loaded.diagnostic(
                    path,
                    f"backend {backend.name} takes traffic by weight and as a fallback; LiteLLM "
                    "counts its limits (tokens, requests, budget) in each place separately, up "
                    "to twice each",
                    "give it weight 0, or keep it out of the chain after the first",
                    warning=True,
                )
            )
    return found


def _check_litellm(loaded: LoadedStack) -> list[Diagnostic]:
    """What the LiteLLM proxy needs to start and to keep its counters right."""
    spec = loaded.stack.spec
    if not any(route_target(spec, r) == "litellm" for r in spec.routes):
        return []
    settings = spec.gateway.litellm
    path: Path = ("spec", "gateway", "litellm")
    found: list[Diagnostic] = []
    if settings.master_key_secret is None:
        found.append(
            loaded.diagnostic(
                path,
                "the LiteLLM proxy refuses to start without a master key",
                "add masterKeySecret: {name: <secret>, key: <key>}",
            )
        )
    if settings.replicas > 1 and settings.redis is None:
        found.append(
            loaded.diagnostic(
                (*path, "replicas"),
                f"{settings.replicas} proxy replicas would each count limits, budgets and "
                "cooldowns on their own",
                "add redis: {host: ..., port: 6379} (shared counters)",
            )
        )
    return found
