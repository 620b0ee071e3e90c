"""A route with external providers or AI policy → Envoy AI Gateway resources (see ``routes.py``)."""

from __future__ import annotations

from urllib.parse import urlparse

from aiplane.render.common import Context, Obj, k8s_name
from aiplane.render.http_route import route_terms
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
from aiplane.stack.models import Backend, RateLimit, Route

EG = "gateway.envoyproxy.io"
AIG = "aigateway.envoyproxy.io"
MODEL_HEADER = "x-ai-eg-model"
# Where the AI gateway puts token usage for rate limiting (usage-based-ratelimiting.md).
USAGE_NAMESPACE = "io.envoy.ai_gateway"
TOTAL_TOKENS = "llm_total_token"

# provider → (AIServiceBackend schema, default host, BackendSecurityPolicy type)
_PROVIDERS: dict[str, tuple[Obj, str | None, str | None]] = {
    # ``version`` is only read for AzureOpenAI (its API version); OpenAI-style paths use ``prefix``.
    "openai": ({"name": "OpenAI"}, "api.openai.com", "APIKey"),
    "anthropic": ({"name": "Anthropic"}, "api.anthropic.com", "AnthropicAPIKey"),
    "openai-compatible": ({"name": "OpenAI"}, None, "APIKey"),
    "azure-openai": ({"name": "AzureOpenAI", "version": "2024-10-21"}, None, "AzureAPIKey"),
    "bedrock": ({"name": "AWSBedrock"}, "bedrock-runtime.us-east-1.amazonaws.com", None),
}
_SECRET_FIELD = {
    "APIKey": "apiKey",
    "AnthropicAPIKey": "anthropicAPIKey",
    "AzureAPIKey": "azureAPIKey",
}


def render_ai_route(ctx: Context, index: int, route: Route) -> list[Obj]:
    path = ("spec", "routes", index)
    subject = f"route {route.name}"
    objs: list[Obj] = []
    refs: dict[str, list[Obj]] = {}  # backend name → AIGatewayRoute backendRefs (weight per 100)
    for b_index, backend in enumerate(route.backends):
        b_path = (*path, "backends", b_index)
        if backend.external is not None:
            name = k8s_name(route.name, backend.name)
            made = _external_objects(ctx, b_path, subject, route, backend, name)
            objs += made
            override = {"name": name, "modelNameOverride": backend.external.model, "weight": 100}
            refs[backend.name] = [override] if made else []
        else:
            refs[backend.name] = []
            for model, stage, share in local_targets(ctx, index, backend):
                name = service_name(model, stage)
                host = f"{name}.{ctx.namespace}.svc.cluster.local"
                objs.append(_eg_backend(ctx, b_path, subject, name, host, PORT))
                objs.append(_ai_service_backend(ctx, b_path, subject, name, {"name": "OpenAI"}))
                refs[backend.name].append(
                    {"name": name, "modelNameOverride": model, "weight": share}
                )
    weighted = _weighted_refs(ctx, index, route, refs)
    annotations = {
        **_carried_route_settings(ctx, index, route),
        **weights_annotation(weighted, route_terms(ctx, route)),
    }
    objs.append(
        {
            "apiVersion": f"{AIG}/v1beta1",
            "kind": "AIGatewayRoute",
            "metadata": ctx.meta(route.name, path, subject, annotations=annotations),
            "spec": _ai_route_spec(route, refs, weighted),
        }
    )
    objs.append(_traffic_policy(ctx, index, route))
    return objs


def _ai_route_spec(route: Route, refs: dict[str, list[Obj]], weighted: list[Obj]) -> Obj:
    model_match = {"type": "Exact", "name": MODEL_HEADER, "value": route.name}
    timeouts = {"request": f"{route.connection.timeout_seconds}s"}
    rules: list[Obj] = []
    for m_index, match in enumerate(route.header_matches):
        header = {"type": "Exact", "name": match.header, "value": match.value}
        rules.append(
            {
                "name": k8s_name("ab", str(m_index)),
                "matches": [{"headers": [model_match, header]}],
                "backendRefs": [dict(r) for r in refs[match.backend]],
                "timeouts": timeouts,
            }
        )
    rules.append(
        {
            "name": "split",
            "matches": [{"headers": [model_match]}],
            "backendRefs": weighted,
            "timeouts": timeouts,
        }
    )
    spec: Obj = {"parentRefs": [parent_ref(route, ai=True)], "rules": rules}
    if _token_limited(route):
        # The gateway records token usage under these keys; the rate limit charges the total.
        spec["llmRequestCosts"] = [
            {"metadataKey": "llm_input_token", "type": "InputToken"},
            {"metadataKey": "llm_output_token", "type": "OutputToken"},
            {"metadataKey": TOTAL_TOKENS, "type": "TotalToken"},
        ]
    return spec


def _weighted_refs(ctx: Context, index: int, route: Route, refs: dict[str, list[Obj]]) -> list[Obj]:
    chain = route.fallback.chain if route.fallback else []
    weights = effective_weights(route)
    spare = [n for n in chain if not weights[n]]
    out: list[Obj] = []
    for backend in route.backends:
        in_chain = backend.name in chain
        weight_of = weights[backend.name]
        if not weight_of and not in_chain:
            continue
        priority = 0 if weight_of else 1 + spare.index(backend.name)
        for ref in refs[backend.name]:
            weight = weight_of * ref["weight"] if weight_of else ref["weight"]
            out.append({**ref, "weight": weight, "priority": priority})
    weighted_in_chain = [n for n in chain if n not in spare]
    if len(weighted_in_chain) > 1:
        ctx.warn(
            ("spec", "routes", index, "fallback", "chain"),
            "fallback order among weighted backends is not expressible in Envoy AI Gateway: "
            "they share priority 0 and failed requests are retried on the others by weight",
            "kept in annotation aiplane.dev/fallback-chain",
        )
    return out


def _token_limited(route: Route) -> bool:
    limits = (
        [route.rate_limits.per_api_key, route.rate_limits.per_organization]
        if route.rate_limits
        else []
    )
    return any(limit and limit.tokens_per_minute for limit in limits)


def _carried_route_settings(ctx: Context, index: int, route: Route) -> dict[str, str]:
    """Route settings no target can express: kept as annotations and reported as warnings."""
    path = ("spec", "routes", index)
    out: dict[str, str] = {"aiplane.dev/path": route.path}
    if route.fallback:
        out["aiplane.dev/fallback-chain"] = ",".join(route.fallback.chain)
        triggers = route.fallback.triggers
        if triggers.error_rate_percent is not None:
            out["aiplane.dev/fallback-error-rate-percent"] = f"{triggers.error_rate_percent:g}"
            ctx.warn(
                (*path, "fallback", "triggers", "errorRatePercent"),
                "an error-rate fallback trigger is not expressible; Envoy ejects a backend after "
                "consecutive 5xx instead",
                "carried in annotation",
            )
        if triggers.p99_latency_ms is not None:
            out["aiplane.dev/fallback-p99-latency-ms"] = str(triggers.p99_latency_ms)
            ctx.warn(
                (*path, "fallback", "triggers", "p99LatencyMs"),
                "a latency fallback trigger is not expressible in Envoy AI Gateway",
                "carried in annotation",
            )
    if route.daily_budget_usd:
        out["aiplane.dev/daily-budget-usd"] = f"{route.daily_budget_usd:g}"
        ctx.warn(
            (*path, "dailyBudgetUsd"),
            "daily dollar budgets are not enforced by the gateway",
            "carried in annotation",
        )
    limits = route.rate_limits
    for scope, limit in (
        ("per-api-key", limits and limits.per_api_key),
        ("per-organization", limits and limits.per_organization),
    ):
        if limit and limit.daily_budget_usd:
            key = "perApiKey" if scope == "per-api-key" else "perOrganization"
            out[f"aiplane.dev/{scope}-daily-budget-usd"] = f"{limit.daily_budget_usd:g}"
            ctx.warn(
                (*path, "rateLimits", key, "dailyBudgetUsd"),
                "daily dollar budgets are not enforced by the gateway",
                "carried in annotation",
            )
    backend_limits = _backend_limits(ctx, index, route)
    if backend_limits:
        out["aiplane.dev/backend-limits"] = backend_limits
    if route.shadow:
        out["aiplane.dev/shadow"] = f"{route.shadow.backend}:{route.shadow.percent}"
        ctx.warn(
            (*path, "shadow"),
            "AIGatewayRoute has no request mirroring; shadow not rendered",
            "carried in annotation",
        )
    warn_connection(ctx, index, route, ai=True)
    return out


def _backend_limits(ctx: Context, index: int, route: Route) -> str:
    """``openai:tokens-per-minute=100000,...;anthropic:...`` for the route's annotation."""
    parts: list[str] = []
    for b_index, backend in enumerate(route.backends):
        limits = backend.limits
        if limits is None:
            continue
        carried = {
            "requests-per-minute": limits.requests_per_minute,
            "tokens-per-minute": limits.tokens_per_minute,
            "daily-budget-usd": limits.daily_budget_usd,
        }
        text = ",".join(f"{k}={v:g}" for k, v in carried.items() if v is not None)
        parts.append(f"{backend.name}:{text}")
        ctx.warn(
            ("spec", "routes", index, "backends", b_index, "limits"),
            f"per-backend limits ({', '.join(k for k, v in carried.items() if v is not None)}) "
            "are not expressible: Envoy rate limits key on request headers, not on the backend "
            "a request was sent to, and no gateway enforces dollar budgets",
            "carried in annotation aiplane.dev/backend-limits",
        )
    return ";".join(parts)


def _eg_backend(
    ctx: Context, path: tuple[str | int, ...], subject: str, name: str, host: str, port: int
) -> Obj:
    return {
        "apiVersion": f"{EG}/v1alpha1",
        "kind": "Backend",
        "metadata": ctx.meta(name, path, subject),
        "spec": {"endpoints": [{"fqdn": {"hostname": host, "port": port}}]},
    }


def _ai_service_backend(
    ctx: Context, path: tuple[str | int, ...], subject: str, name: str, schema: Obj
) -> Obj:
    return {
        "apiVersion": f"{AIG}/v1beta1",
        "kind": "AIServiceBackend",
        "metadata": ctx.meta(name, path, subject),
        "spec": {
            "schema": dict(schema),
            "backendRef": {"name": name, "kind": "Backend", "group": EG},
        },
    }


def _external_objects(
    ctx: Context,
    path: tuple[str | int, ...],
    subject: str,
    route: Route,
    backend: Backend,
    name: str,
) -> list[Obj]:
    ext = backend.external
    assert ext is not None
    schema, host, policy = _PROVIDERS[ext.provider]
    port, tls = 443, True
    if ext.endpoint:
        url = urlparse(ext.endpoint)
        host = url.hostname or host
        tls = url.scheme != "http"
        port = url.port or (443 if tls else 80)
        if url.path.rstrip("/") not in ("", "/v1"):
            schema = {**schema, "prefix": url.path.rstrip("/")}
    elif ext.provider == "bedrock":
        ctx.warn(
            (*path, "external"),
            "bedrock without an endpoint: using region us-east-1",
            "set endpoint: https://bedrock-runtime.<region>.amazonaws.com",
        )
    if host is None:
        ctx.warn(
            (*path, "external", "endpoint"), f"{ext.provider} needs an endpoint; backend skipped"
        )
        return []
    objs = [
        _eg_backend(ctx, path, subject, name, host, port),
        _ai_service_backend(ctx, path, subject, name, schema),
    ]
    if tls:
        objs.append(
            {
                "apiVersion": f"{GW}/v1",
                "kind": "BackendTLSPolicy",
                "metadata": ctx.meta(name, path, subject),
                "spec": {
                    "targetRefs": [{"group": EG, "kind": "Backend", "name": name}],
                    "validation": {"hostname": host, "wellKnownCACertificates": "System"},
                },
            }
        )
    secret = ext.api_key_secret
    if secret is not None:
        if policy is None:
            ctx.warn(
                (*path, "external", "apiKeySecret"),
                f"{ext.provider} authenticates with cloud credentials, not an API key; "
                "no BackendSecurityPolicy rendered",
            )
        else:
            if secret.key != "apiKey":
                ctx.warn(
                    (*path, "external", "apiKeySecret", "key"),
                    f"Envoy AI Gateway reads the Secret key 'apiKey', not '{secret.key}'",
                    f"add key apiKey to Secret {secret.name}",
                )
            objs.append(
                {
                    "apiVersion": f"{AIG}/v1beta1",
                    "kind": "BackendSecurityPolicy",
                    "metadata": ctx.meta(name, (*path, "external", "apiKeySecret"), subject),
                    "spec": {
                        "type": policy,
                        "targetRefs": [{"group": AIG, "kind": "AIServiceBackend", "name": name}],
                        _SECRET_FIELD[policy]: {"secretRef": {"name": secret.name}},
                    },
                }
            )
    return objs


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


def _traffic_policy(ctx: Context, index: int, route: Route) -> Obj:
    conn = route.connection
    spec: Obj = {
        # The AI gateway generates an HTTPRoute with the AIGatewayRoute's name; attach to it.
        "targetRefs": [{"group": GW, "kind": "HTTPRoute", "name": route.name}],
        "retry": {
            "numRetries": conn.retries,
            "retryOn": {
                "triggers": ["connect-failure", "retriable-status-codes"],
                "httpStatusCodes": [429, 500, 502, 503, 504],
            },
            "perRetry": {"backOff": {"baseInterval": "100ms", "maxInterval": "10s"}},
        },
        "circuitBreaker": {"maxConnections": conn.pool_size, "maxParallelRequests": conn.pool_size},
    }
    if route.fallback:
        spec["retry"]["numAttemptsPerPriority"] = 1
        if route.fallback.triggers.unhealthy:
            spec["healthCheck"] = {
                "passive": {
                    "consecutive5XxErrors": 3,
                    "interval": "10s",
                    "baseEjectionTime": "30s",
                    "maxEjectionPercent": 100,
                }
            }
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
