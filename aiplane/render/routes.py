"""``spec.routes`` → Gateway API HTTPRoute, or Envoy AI Gateway resources when AI policy is needed.

A route whose backends are all local models and that asks for no AI policy becomes one
``gateway.networking.k8s.io/v1`` HTTPRoute: weighted backendRefs to the vLLM stage Services, a
RequestMirror filter for ``shadow``, and one extra rule per ``headerMatches`` entry (A/B).

A route with an external provider, a fallback chain, rate limits or budgets becomes Envoy AI
Gateway ``v1beta1`` resources plus the Envoy Gateway objects they need:

* ``AIGatewayRoute/<route>``: clients send ``"model": "<route>"``; the rule matches it on the
  ``x-ai-eg-model`` header the gateway extracts from the body, and each backendRef rewrites the
  model name (``modelNameOverride``) to the provider's id or the local served name.
* ``AIServiceBackend`` + Envoy Gateway ``Backend`` (FQDN endpoint) per destination, with a
  ``BackendTLSPolicy`` (Gateway API v1) for HTTPS providers, and a ``BackendSecurityPolicy``
  that references the API-key Secret (never its value).
* ``BackendTrafficPolicy/<route>`` (Envoy Gateway): retries, passive health checks, connection
  limits and the global token/request rate limits, attached to the HTTPRoute the AI gateway
  generates under the route's name.

Weights and fallback: a local backend without a version expands into its model's live stages,
weights multiplied out (10 × 90/10 → 900/100 next to 7000/2000 for 70/20). Envoy splits traffic by
weight only within one priority, so backends with a weight share priority 0 and chain members with
weight 0 get priorities 1, 2, … in chain order (see ``envoy_policy.py`` for retries, health and
quotas).

A route whose target is ``litellm`` (``route.gateway.target`` or ``spec.gateway.target``) is
served by the stack's LiteLLM proxy instead (``litellm.py``). What each target does with each
route field is in ``aiplane.gateway.capabilities``; ``validate`` and ``plan`` report every
field a target approximates or drops. Nothing is carried in annotations.
"""

from __future__ import annotations

from aiplane.gateway.capabilities import needs_ai_gateway, route_target
from aiplane.render.ai_gateway import render_ai_route
from aiplane.render.common import Context, Obj
from aiplane.render.http_route import render_http_route
from aiplane.render.litellm import render_litellm
from aiplane.stack.models import Route


def render_routes(ctx: Context) -> list[Obj]:
    out: list[Obj] = []
    seen: set[tuple[str, str]] = set()
    spec = ctx.loaded.stack.spec
    proxied: list[tuple[int, Route]] = []
    objs: list[Obj] = []
    for index, route in enumerate(spec.routes):
        if route_target(spec, route) == "litellm":
            proxied.append((index, route))
        elif needs_ai_gateway(route):
            objs += render_ai_route(ctx, index, route)
        else:
            objs += render_http_route(ctx, index, route)
    objs += render_litellm(ctx, proxied)
    for obj in objs:
        key = (obj["kind"], obj["metadata"]["name"])
        if key not in seen:  # local stage backends are shared between routes
            seen.add(key)
            out.append(obj)
    return out
