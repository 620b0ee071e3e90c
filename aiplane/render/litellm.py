"""Routes whose target is ``litellm`` → one LiteLLM proxy for the stack.

Objects (``spec.gateway.litellm.name``, default ``litellm``):

* ``ConfigMap/<name>``: ``config.yaml`` (see ``litellm_config.py`` for the model groups, chain,
  limits and budgets it holds).
* ``Deployment/<name>``: the pinned proxy image with ``--config``; provider keys and the master
  key come from Secrets as environment variables (the config names them ``os.environ/...``);
  ``LITELLM_LOCAL_MODEL_COST_MAP=True`` so the price list is never fetched at run time; the
  error-rate trigger as ``DEFAULT_FAILURE_THRESHOLD_PERCENT``. A config digest in the pod
  template rolls the pods when the config changes.
* ``Service/<name>`` on port 4000, and per route an ``HTTPRoute`` sending the route's path on its
  Gateway to that Service.
* ``ConfigMap/<name>-db-limits`` when routes set per-key or per-organization limits: the
  ``/key/generate`` and ``/team/new`` bodies LiteLLM needs its database for (not enforced).
"""

from __future__ import annotations

import hashlib

import yaml

from aiplane.render.common import Context, Obj, quantity
from aiplane.render.litellm_config import db_limits, proxy_config
from aiplane.render.route_backends import GW, parent_ref
from aiplane.stack.models import Route, SecretRef

LITELLM_PORT = 4000
CONFIG_KEY = "config.yaml"
CONFIG_DIR = "/etc/litellm"
COMPONENT = "app.kubernetes.io/component"


def dump(doc: Obj) -> str:
    return yaml.safe_dump(doc, sort_keys=True, default_flow_style=False, width=1000)


def render_litellm(ctx: Context, routes: list[tuple[int, Route]]) -> list[Obj]:
    """The proxy's objects for the stack's litellm routes (nothing when there are none)."""
    if not routes:
        return []
    settings = ctx.loaded.stack.spec.gateway.litellm
    name = settings.name
    path = ("spec", "gateway")
    subject = f"gateway {name}"
    proxy = proxy_config(ctx, routes)
    text = dump(proxy.config)
    objs: list[Obj] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": ctx.meta(name, path, subject),
            "data": {CONFIG_KEY: text},
        },
        _deployment(ctx, name, subject, proxy.env, proxy.secret_env, text),
        _service(ctx, name, subject),
    ]
    limits = db_limits(routes)
    if limits:
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": ctx.meta(f"{name}-db-limits", path, subject),
                "data": {"limits.yaml": dump(limits)},
            }
        )
    objs += [_http_route(ctx, index, route, name) for index, route in routes]
    return objs


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "litellm", "app.kubernetes.io/instance": name}


def _deployment(
    ctx: Context,
    name: str,
    subject: str,
    env: dict[str, str],
    secret_env: dict[str, SecretRef],
    config_text: str,
) -> Obj:
    settings = ctx.loaded.stack.spec.gateway.litellm
    resources = {"cpu": quantity(settings.cpu), "memory": quantity(settings.memory)}
    env_list: list[Obj] = [{"name": k, "value": v} for k, v in sorted(env.items())]
    for var, ref in sorted(secret_env.items()):
        env_list.append(
            {
                "name": var,
                "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
            }
        )
    digest = hashlib.sha256(config_text.encode()).hexdigest()[:16]

    def probe(path: str, period: int, failures: int) -> Obj:
        return {
            "httpGet": {"path": path, "port": LITELLM_PORT},
            "periodSeconds": period,
            "failureThreshold": failures,
            "timeoutSeconds": 5,
        }

    container: Obj = {
        "name": "litellm",
        "image": settings.image,
        "args": ["--config", f"{CONFIG_DIR}/{CONFIG_KEY}", "--port", str(LITELLM_PORT)],
        "env": env_list,
        "ports": [{"name": "http", "containerPort": LITELLM_PORT}],
        # The proxy takes ~20 s to import and start; only the startup probe waits for that.
        "startupProbe": probe("/health/liveliness", 5, 24),
        "readinessProbe": probe("/health/readiness", 10, 3),
        "livenessProbe": probe("/health/liveliness", 15, 4),
        "resources": {"requests": resources, "limits": dict(resources)},
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}],
    }
    labels = _labels(name)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": ctx.meta(name, ("spec", "gateway", "litellm"), subject, labels=labels),
        "spec": {
            "replicas": settings.replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {"aiplane.dev/config-sha256": digest},
                },
                "spec": {
                    "containers": [container],
                    "volumes": [{"name": "config", "configMap": {"name": name}}],
                },
            },
        },
    }


def _service(ctx: Context, name: str, subject: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": ctx.meta(name, ("spec", "gateway", "litellm"), subject, labels=_labels(name)),
        "spec": {
            "selector": _labels(name),
            "ports": [{"name": "http", "port": LITELLM_PORT, "targetPort": LITELLM_PORT}],
        },
    }


def _http_route(ctx: Context, index: int, route: Route, proxy: str) -> Obj:
    """The route's path on its Gateway → the proxy (which picks backends by model group)."""
    return {
        "apiVersion": f"{GW}/v1",
        "kind": "HTTPRoute",
        "metadata": ctx.meta(route.name, ("spec", "routes", index), f"route {route.name}"),
        "spec": {
            "parentRefs": [parent_ref(route, ai=False)],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": route.path}}],
                    "backendRefs": [{"name": proxy, "port": LITELLM_PORT}],
                    "timeouts": {"request": f"{route.connection.timeout_seconds}s"},
                }
            ],
        },
    }
