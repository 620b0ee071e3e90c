"""Plan lines in route terms: what a gateway change means for each route.

``route chat-completions: openai weight 70 -> 60, anthropic 20 -> 30`` or ``route
chat-completions: openai daily budget $500 -> $800``, read from the structure of what changes:
the LiteLLM proxy's ``config.yaml`` (parsed and compared entry by entry, not as text), Envoy AI
Gateway's ``AIGatewayRoute`` weights and ``QuotaPolicy`` limits. ``route_terms`` is the one entry
point; the plan summary calls it per changed object (a small hook in ``summary.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from aiplane.output.weights import parse_weights

RouteLine = tuple[str, str]  # (subject, text)
SEPARATOR = "--"
CONFIG_DIGEST = "annotations.aiplane.dev/config-sha256"  # see aiplane.render.litellm
WEIGHTS = "aiplane.dev/weights"  # see aiplane.render.weight_terms
_LIMITS = (
    ("max_budget", "daily budget", "$"),
    ("tpm", "tokens/min", ""),
    ("rpm", "requests/min", ""),
    ("timeout", "timeout", "s"),
)


def route_terms(kind: str, name: str, subject: str, diffs: Sequence[Any]) -> list[RouteLine] | None:
    """Route-level lines for one changed object (None: not a gateway object, use the default).

    ``diffs`` are the plan's field diffs (objects with ``path``, ``before``, ``after``).
    """
    if kind == "ConfigMap":
        for d in diffs:
            if d.path == "data.config.yaml":
                return litellm_config_changes(d.before, d.after)
        return None
    if kind == "Deployment" and diffs and all(d.path.endswith(CONFIG_DIGEST) for d in diffs):
        return [(subject, "pods restart to load the new proxy config")]
    if kind == "AIGatewayRoute":
        return _envoy_weights(name, diffs)
    if kind == "QuotaPolicy":
        return _envoy_quota(name, subject.removeprefix("route "), diffs)
    return None


def _load(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, str):
        return None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return doc if isinstance(doc, dict) and "model_list" in doc else None


def litellm_config_changes(before: Any, after: Any) -> list[RouteLine] | None:
    """Per-route changes between two LiteLLM proxy configs (None: not proxy configs)."""
    old, new = _load(before), _load(after)
    if old is None and new is None:
        return None
    old_routes, new_routes = _routes(old or {}), _routes(new or {})
    lines: list[RouteLine] = []
    for route in dict.fromkeys([*old_routes, *new_routes]):
        if route not in new_routes:
            lines.append((f"route {route}", "removed from the proxy"))
        elif route not in old_routes:
            lines.append((f"route {route}", "added to the proxy"))
        else:
            parts = _route_parts(old_routes[route], new_routes[route])
            if parts:
                lines.append((f"route {route}", ", ".join(parts)))
    providers = _provider_parts(old or {}, new or {})
    if providers:
        lines.append(("gateway providers", ", ".join(providers)))
    return lines


def _routes(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """route → {"backends": {name: settings}, "chain": [...], "retries": n}."""
    router = config.get("router_settings") or {}
    chains: dict[str, list[str]] = {}
    for entry in router.get("fallbacks") or []:
        for group, targets in entry.items():
            chains[group] = [str(t).partition(SEPARATOR)[2] for t in targets]
    fallback_groups = {f"{g}{SEPARATOR}{b}" for g, c in chains.items() for b in c}
    out: dict[str, dict[str, Any]] = {}
    for model in config.get("model_list") or []:
        group = str(model.get("model_name", ""))
        params = model.get("litellm_params") or {}
        ident = str((model.get("model_info") or {}).get("id", group))
        weighted = group not in fallback_groups
        route = group if weighted else group.rsplit(SEPARATOR, 1)[0]
        backend = ident.split("/")[1] if weighted and "/" in ident else group.rsplit(SEPARATOR)[-1]
        entry = out.setdefault(route, {"backends": {}, "chain": chains.get(route, [])})
        settings = entry["backends"].setdefault(backend, {"weight": 0})
        if weighted:
            settings["weight"] = settings["weight"] + (params.get("weight") or 0)
        for key, _, _ in _LIMITS:
            if params.get(key) is not None:
                settings[key] = params[key]
    policies = router.get("model_group_retry_policy") or {}
    for route, entry in out.items():
        chain = entry["chain"]
        group = f"{route}{SEPARATOR}{chain[0]}" if chain else route
        entry["retries"] = (policies.get(group) or {}).get("DefaultRetries")
    return out


def _num(value: Any, unit: str = "") -> str:
    if value is None:
        return "none"
    text = f"{value:g}" if isinstance(value, int | float) else str(value)
    return f"${text}" if unit == "$" else f"{text}{unit}"


def _route_parts(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    weights: list[str] = []
    for backend in dict.fromkeys([*old["backends"], *new["backends"]]):
        before, after = old["backends"].get(backend), new["backends"].get(backend)
        if before is None:
            parts.append(f"{backend} added (weight {_num(after['weight'])})")
            continue
        if after is None:
            parts.append(f"{backend} removed")
            continue
        if before["weight"] != after["weight"]:
            if not weights:
                weights.append(
                    f"{backend} weight {_num(before['weight'])} -> {_num(after['weight'])}"
                )
            else:
                weights.append(f"{backend} {_num(before['weight'])} -> {_num(after['weight'])}")
        for key, label, unit in _LIMITS:
            if before.get(key) != after.get(key):
                old_v, new_v = _num(before.get(key), unit), _num(after.get(key), unit)
                parts.append(f"{backend} {label} {old_v} -> {new_v}")
    if old["chain"] != new["chain"]:
        parts.append(f"fallback after the first: {', '.join(old['chain']) or 'none'} -> "
                     f"{', '.join(new['chain']) or 'none'}")  # fmt: skip
    if old.get("retries") != new.get("retries"):
        parts.append(f"retries {_num(old.get('retries'))} -> {_num(new.get('retries'))}")
    return weights + parts


def _provider_parts(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    def budgets(config: dict[str, Any]) -> dict[str, Any]:
        found = (config.get("router_settings") or {}).get("provider_budget_config") or {}
        return {p: (v or {}).get("budget_limit") for p, v in found.items()}

    before, after = budgets(old), budgets(new)
    return [f"{p} daily budget {_num(before.get(p), '$')} -> {_num(after.get(p), '$')}"
            for p in dict.fromkeys([*before, *after])
            if before.get(p) != after.get(p)]  # fmt: skip


def explains(kind: str, path: str) -> bool:
    """Whether ``route_terms`` tells the change at ``path`` (the summary keeps the other diffs)."""
    if kind == "ConfigMap":
        return path == "data.config.yaml"
    if kind == "Deployment":
        return path.endswith(CONFIG_DIGEST)
    if kind == "AIGatewayRoute":
        return path.endswith(f"annotations.{WEIGHTS}") or _is_split_weight(path)
    return kind == "QuotaPolicy" and path.endswith("defaultBucket.limit")


def _is_split_weight(path: str) -> bool:
    return path.startswith("spec.rules[name=split].backendRefs[name=") and path.endswith("].weight")


def _envoy_weights(route: str, diffs: Sequence[Any]) -> list[RouteLine] | None:
    """Weight changes per backend: from the route's weights annotation (percent per stack term)
    when render wrote one, else from the raw backend weights (per 100 of a provider backend)."""
    for d in diffs:
        if d.path.endswith(f"annotations.{WEIGHTS}"):
            old, new = parse_weights(d.before), parse_weights(d.after)
            changed = [t for t in dict.fromkeys([*old, *new]) if old.get(t) != new.get(t)]
            terms = [
                f"{t}{' weight' if i == 0 else ''} {old.get(t, '0')} -> {new.get(t, '0')}"
                for i, t in enumerate(changed)
            ]
            if terms:
                return [(f"route {route}", ", ".join(terms))]
    parts: list[str] = []
    for d in diffs:
        if not _is_split_weight(d.path):
            continue
        ref = d.path.split("backendRefs[name=", 1)[1].removesuffix("].weight")
        backend = ref.removeprefix(f"{route}-")
        before = d.before / 100 if isinstance(d.before, int | float) else None
        after = d.after / 100 if isinstance(d.after, int | float) else None
        label = f"{backend} weight" if not parts else backend
        parts.append(f"{label} {_num(before)} -> {_num(after)}")
    return [(f"route {route}", ", ".join(parts))] if parts else None


def _envoy_quota(name: str, route: str, diffs: Sequence[Any]) -> list[RouteLine] | None:
    for d in diffs:
        if not d.path.endswith("defaultBucket.limit"):
            continue
        stem, _, kind = name.rpartition("-")
        backend = stem.removeprefix(f"{route}-")
        if kind == "budget":
            old = _num(d.before / 1e9 if d.before is not None else None, "$")
            new = _num(d.after / 1e9 if d.after is not None else None, "$")
            text = f"{backend} daily budget {old} -> {new}"
        else:
            label = "tokens/min" if kind == "tpm" else "requests/min"
            text = f"{backend} {label} {_num(d.before)} -> {_num(d.after)}"
        return [(f"route {route}", text)]
    return None
