"""The LiteLLM proxy's ``config.yaml`` for the stack's ``litellm`` routes (pure data).

Model groups: clients send ``"model": "<route>"``. The group ``<route>`` holds every backend with
a weight (a local backend without a version expands into its live stages, weights multiplied
out), picked by weight (``simple-shuffle``). Each fallback-chain member after the first also gets
its own group ``<route>--<backend>``, and the route's ``fallbacks`` lists those groups in chain
order. So "weighted split + ordered chain" means here: a request goes to one backend by weight;
if that call fails or times out, the later chain members are tried one by one, in declared
order, each with the route's retries. The weighted group itself does not retry: a retry there
would pick a backend by weight again and skip the declared order.

Per backend: ``tpm``/``rpm`` (with pre-call checks, a full backend is skipped), a daily
``max_budget``, prices (``input_cost_per_token``/``output_cost_per_token``) so budgets count for
local models, a per-attempt ``timeout`` (the p99-latency trigger's approximation, else the
route's timeout) and ``max_parallel_requests`` for an explicit pool size. Provider keys are
``os.environ/<VAR>`` references; the Deployment fills the variables from Secrets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

from aiplane.render.common import Context, Obj
from aiplane.render.route_backends import effective_weights, local_targets
from aiplane.render.vllm import service_name
from aiplane.render.vllm_pod import PORT
from aiplane.stack.models import Backend, Route, SecretRef
from aiplane.stack.sections.gateway import BudgetProvider

FALLBACK_SEPARATOR = "--"
# stack provider → LiteLLM provider prefix (the part before "/" in litellm_params.model)
LITELLM_PROVIDER = {
    "openai": "openai",
    "anthropic": "anthropic",
    "openai-compatible": "hosted_vllm",
    "azure-openai": "azure",
    "bedrock": "bedrock",
    "local": "hosted_vllm",
}
AZURE_API_VERSION = "2024-10-21"


@dataclass
class ProxyConfig:
    """The rendered config and the environment the proxy process needs."""

    config: Obj
    env: dict[str, str] = field(default_factory=dict)
    secret_env: dict[str, SecretRef] = field(default_factory=dict)


def secret_env_name(ref: SecretRef) -> str:
    """The environment variable a Secret key is exposed as (``os.environ/<it>`` in the config)."""
    return "SECRET_" + re.sub(r"[^A-Z0-9]+", "_", f"{ref.name}_{ref.key}".upper()).strip("_")


def fallback_group(route: str, backend: str) -> str:
    return f"{route}{FALLBACK_SEPARATOR}{backend}"


def proxy_config(ctx: Context, routes: list[tuple[int, Route]]) -> ProxyConfig:
    """The proxy config for ``routes`` (index in spec.routes, route)."""
    settings = ctx.loaded.stack.spec.gateway
    out = ProxyConfig(config={})
    models: list[Obj] = []
    fallbacks: list[Obj] = []
    for index, route in routes:
        models += _route_models(ctx, index, route, out)
        chain = _fallback_groups(route)
        if chain:
            fallbacks.append({route.name: chain})
    router: Obj = {
        "routing_strategy": "simple-shuffle",
        "enable_pre_call_checks": True,
        # Makes tpm/rpm limits, not only weights: a full backend raises and the chain moves on.
        "optional_pre_call_checks": ["enforce_model_rate_limits"],
        # Retries are per group (below); LiteLLM reads group policies only when this is not 0.
        "num_retries": max((r.connection.retries for _, r in routes), default=0),
        "cooldown_time": settings.litellm.cooldown_seconds,
        "timeout": max((r.connection.timeout_seconds for _, r in routes), default=30),
    }
    if fallbacks:
        router["fallbacks"] = fallbacks
    retries = _group_retries(routes)
    if retries:
        router["model_group_retry_policy"] = retries
    budgets = _provider_budgets(settings.provider_budgets_usd)
    if budgets:
        router["provider_budget_config"] = budgets
    redis = settings.litellm.redis
    if redis is not None and settings.litellm.replicas > 1:
        router["redis_host"] = redis.host
        router["redis_port"] = redis.port
        if redis.password_secret is not None:
            router["redis_password"] = _env_ref(out, redis.password_secret)
    general: Obj = {}
    if settings.litellm.master_key_secret is not None:
        general["master_key"] = _env_ref(out, settings.litellm.master_key_secret)
    out.config = {
        "model_list": models,
        "router_settings": router,
        "litellm_settings": {"drop_params": True},
        "general_settings": general,
    }
    out.env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    rates = [
        r.fallback.triggers.error_rate_percent
        for _, r in routes
        if r.fallback and r.fallback.triggers.error_rate_percent is not None
    ]
    if rates:
        out.env["DEFAULT_FAILURE_THRESHOLD_PERCENT"] = f"{min(rates) / 100:g}"
    return out


def _fallback_groups(route: Route) -> list[str]:
    if route.fallback is None:
        return []
    return [fallback_group(route.name, name) for name in route.fallback.chain[1:]]


def _group_retries(routes: list[tuple[int, Route]]) -> Obj:
    """Retries per group: none in a chained route's weighted group (see the module doc).

    A full backend (tpm/rpm) is never retried: LiteLLM would wait out its retry-after (a minute)
    instead of refusing or moving on to the chain.
    """
    out: Obj = {}
    for _, route in routes:
        chain = _fallback_groups(route)
        retries = route.connection.retries
        out[route.name] = {"DefaultRetries": 0 if chain else retries, "RateLimitErrorRetries": 0}
        for group in chain:
            out[group] = {"DefaultRetries": retries, "RateLimitErrorRetries": 0}
    return out


def _provider_budgets(budgets: Mapping[BudgetProvider, float]) -> Obj:
    out: Obj = {}
    for provider, usd in sorted(budgets.items()):
        name = LITELLM_PROVIDER.get(provider, provider)
        out[name] = {"budget_limit": usd, "time_period": "1d"}
    return out


def _env_ref(out: ProxyConfig, ref: SecretRef) -> str:
    name = secret_env_name(ref)
    out.secret_env[name] = ref
    return f"os.environ/{name}"


def _route_models(ctx: Context, index: int, route: Route, out: ProxyConfig) -> list[Obj]:
    weights = effective_weights(route)
    by_name = {b.name: (i, b) for i, b in enumerate(route.backends)}
    models: list[Obj] = []
    for b_index, backend in enumerate(route.backends):
        if weights[backend.name]:
            for params, share, tag in _destinations(ctx, index, b_index, backend, route, out):
                params["weight"] = _number(weights[backend.name] * share / 100)
                models.append(_entry(route.name, f"{route.name}/{backend.name}{tag}", params))
    for name in route.fallback.chain[1:] if route.fallback else []:
        b_index, backend = by_name[name]
        group = fallback_group(route.name, name)
        for params, share, tag in _destinations(ctx, index, b_index, backend, route, out):
            params["weight"] = share
            models.append(_entry(group, f"{group}{tag}", params))
    return models


def _per_token(per_million: float) -> float:
    # Decimal keeps 0.1 $/M at 1e-07 (binary floats would print 1.0000000000000001e-07).
    return float(Decimal(str(per_million)) / Decimal(1_000_000))


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 4)


def _entry(group: str, ident: str, params: Obj) -> Obj:
    # A stable id keeps LiteLLM's per-deployment counters and aiplane's plan diff keyed by name.
    return {"model_name": group, "litellm_params": params, "model_info": {"id": ident}}


def _destinations(
    ctx: Context, index: int, b_index: int, backend: Backend, route: Route, out: ProxyConfig
) -> list[tuple[Obj, int, str]]:
    """(litellm_params, weight per 100 of the backend, id suffix) per place the backend sends to."""
    common = _common_params(backend, route)
    if backend.external is not None:
        return [({**_external_params(backend, out), **common}, 100, "")]
    assert backend.local is not None
    targets = local_targets(ctx, index, backend)
    out_list: list[tuple[Obj, int, str]] = []
    for model, stage, share in targets:
        host = f"{service_name(model, stage)}.{ctx.namespace}.svc.cluster.local"
        params = {"model": f"hosted_vllm/{model}", "api_base": f"http://{host}:{PORT}/v1"}
        out_list.append(({**params, **common}, share, f"/{stage}" if len(targets) > 1 else ""))
    if len(targets) > 1 and backend.limits is not None:
        ctx.warn(
            ("spec", "routes", index, "backends", b_index, "limits"),
            f"backend {backend.name} spans {len(targets)} model stages; each stage gets the "
            "whole limit",
            "pin local.version to limit one stage",
        )
    return out_list


def _common_params(backend: Backend, route: Route) -> Obj:
    params: Obj = {}
    limits = backend.limits
    if limits is not None:
        if limits.tokens_per_minute:
            params["tpm"] = limits.tokens_per_minute
        if limits.requests_per_minute:
            params["rpm"] = limits.requests_per_minute
        if limits.daily_budget_usd:
            params["max_budget"] = limits.daily_budget_usd
            params["budget_duration"] = "1d"
    if backend.price is not None:
        params["input_cost_per_token"] = _per_token(backend.price.input_per_million_usd)
        params["output_cost_per_token"] = _per_token(backend.price.output_per_million_usd)
    triggers = route.fallback.triggers if route.fallback else None
    if triggers is not None and triggers.p99_latency_ms is not None:
        timeout: float = triggers.p99_latency_ms / 1000
    else:
        timeout = route.connection.timeout_seconds
    params["timeout"] = timeout
    params["stream_timeout"] = timeout
    if "pool_size" in route.connection.model_fields_set:
        params["max_parallel_requests"] = route.connection.pool_size
    return params


def _external_params(backend: Backend, out: ProxyConfig) -> Obj:
    ext = backend.external
    assert ext is not None
    params: Obj = {"model": f"{LITELLM_PROVIDER[ext.provider]}/{ext.model}"}
    if ext.endpoint:
        base = ext.endpoint.rstrip("/")
        if ext.provider == "anthropic":
            base = base.removesuffix("/v1")  # LiteLLM appends /v1/messages itself
        params["api_base"] = base
    if ext.provider == "azure-openai":
        params["api_version"] = AZURE_API_VERSION
    if ext.provider == "bedrock":
        host = urlparse(ext.endpoint).hostname or "" if ext.endpoint else ""
        match = re.match(r"bedrock-runtime\.([a-z0-9-]+)\.amazonaws\.com", host)
        params["aws_region_name"] = match.group(1) if match else "us-east-1"
    if ext.api_key_secret is not None and ext.provider != "bedrock":
        params["api_key"] = _env_ref(out, ext.api_key_secret)
    elif ext.provider == "openai-compatible":
        params["api_key"] = "none"  # the OpenAI client insists on a key; vLLM ignores it
    return params


def db_limits(routes: list[tuple[int, Route]]) -> Obj:
    """Per-key and per-organization limits as LiteLLM ``/key/generate`` and ``/team/new`` bodies.

    They only take effect with LiteLLM's database (virtual keys and teams live there), which
    aiplane does not run; the capability table reports them as "needs the LiteLLM database".
    """
    out: Obj = {}
    for _, route in routes:
        limits = route.rate_limits
        if limits is None:
            continue
        entry: Obj = {}
        for scope, limit in (("key", limits.per_api_key), ("team", limits.per_organization)):
            if limit is None:
                continue
            body: dict[str, Any] = {"models": [route.name]}
            if limit.requests_per_minute:
                body["rpm_limit"] = limit.requests_per_minute
            if limit.tokens_per_minute:
                body["tpm_limit"] = limit.tokens_per_minute
            if limit.daily_budget_usd:
                body["max_budget"] = limit.daily_budget_usd
                body["budget_duration"] = "1d"
            entry[scope] = body
        if route.daily_budget_usd:
            team = entry.setdefault("team", {"models": [route.name]})
            team["max_budget"] = min(route.daily_budget_usd, team.get("max_budget", 1e18))
            team["budget_duration"] = "1d"
        if entry:
            out[route.name] = entry
    return out
