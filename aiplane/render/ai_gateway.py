"""A route with external providers or AI policy → Envoy AI Gateway resources (see ``routes.py``)."""

from __future__ import annotations

from urllib.parse import urlparse

from aiplane.render.common import Context, Obj, k8s_name
from aiplane.render.envoy_policy import AIG, EG, TOTAL_TOKENS, quota_policies, traffic_policy
from aiplane.render.http_route import route_terms
from aiplane.render.route_backends import GW, effective_weights, local_targets, parent_ref
from aiplane.render.vllm import service_name
from aiplane.render.vllm_pod import PORT
from aiplane.render.weight_terms import weights_annotation
from aiplane.stack.models import Backend, Route

MODEL_HEADER = "x-ai-eg-model"

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
    # A readable split for plans; policy itself is never carried in annotations (unenforced
    # fields are diagnostics, aiplane.gateway.capabilities).
    annotations = weights_annotation(weighted, route_terms(ctx, route))
    objs.append(
        {
            "apiVersion": f"{AIG}/v1beta1",
            "kind": "AIGatewayRoute",
            "metadata": ctx.meta(route.name, path, subject, annotations=annotations),
            "spec": _ai_route_spec(route, refs, weighted),
        }
    )
    objs.append(traffic_policy(ctx, index, route))
    objs += quota_policies(ctx, index, route, refs)
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
    # Chain order among weighted backends is not expressible (they share priority 0); the
    # capability table reports it (aiplane.gateway.capabilities).
    return out


def _token_limited(route: Route) -> bool:
    limits = (
        [route.rate_limits.per_api_key, route.rate_limits.per_organization]
        if route.rate_limits
        else []
    )
    return any(limit and limit.tokens_per_minute for limit in limits)


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
