"""The stack the traffic tests render and run: one litellm route per scenario.

Every backend points at a loopback stand-in: ``openai`` (OpenAI API), ``anthropic`` (Anthropic
messages API) and ``vllm`` (an ``openai-compatible`` endpoint playing the local vLLM). Prices are
set on every backend so costs, and so budgets, are deterministic: $100 per million input tokens
and $50 per million output tokens make one call (10 in, 20 out) cost exactly $0.002.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from aiplane.check import load_and_check
from aiplane.render import render_stack
from tests.servers.upstreams import Upstream

SCENARIOS = ("split", "chain", "slow", "budget", "provider", "tpm", "refuse", "stream")
PRICE = {"inputPerMillionUsd": 100, "outputPerMillionUsd": 50}
CALL_COST = 10 * 100e-6 + 20 * 50e-6  # $0.002
BUDGET_USD = 0.009  # spent after ceil(0.009 / 0.002) = 5 calls
TPM_LIMIT = 100  # 30 tokens a call: calls 1-4 pass (0, 30, 60, 90 < 100), the 5th is refused
SLOW_MS = 800
MASTER_KEY_VAR = "SECRET_LITELLM_MASTERKEY"


def _backend(name: str, up: Upstream, weight: int, **extra: Any) -> dict[str, Any]:
    if name == "anthropic":
        target = {"provider": "anthropic", "model": "claude-sonnet-4-20250514",
                  "endpoint": up.base_url, "apiKeySecret": {"name": "anthropic", "key": "apiKey"}}  # fmt: skip
    elif name == "openai":
        target = {"provider": "openai", "model": "gpt-4o", "endpoint": f"{up.base_url}/v1",
                  "apiKeySecret": {"name": "openai", "key": "apiKey"}}  # fmt: skip
    elif name == "azure":  # Azure OpenAI answers in the OpenAI format under its own paths
        target = {"provider": "azure-openai", "model": "gpt-4o", "endpoint": up.base_url,
                  "apiKeySecret": {"name": "azure", "key": "apiKey"}}  # fmt: skip
    else:
        target = {"provider": "openai-compatible", "model": "llama-70b",
                  "endpoint": f"{up.base_url}/v1"}  # fmt: skip
    return {"name": name, "weight": weight, "external": target, "price": PRICE, **extra}


def _route(scenario: str, ups: dict[str, Upstream]) -> dict[str, Any]:
    o, a, v = ups["openai"], ups["anthropic"], ups["vllm"]
    route: dict[str, Any] = {"name": scenario, "path": f"/{scenario}",
                             "connection": {"retries": 1, "timeoutSeconds": 10}}  # fmt: skip
    three = [_backend("openai", o, 70), _backend("anthropic", a, 20), _backend("vllm", v, 10)]
    chain = {"chain": ["openai", "anthropic", "vllm"]}
    if scenario in ("split", "chain", "stream"):
        route.update(backends=three, fallback=chain)
    elif scenario == "slow":
        route["backends"] = [_backend("openai", o, 100), _backend("anthropic", a, 0)]
        route["fallback"] = {"chain": ["openai", "anthropic"],
                             "triggers": {"p99LatencyMs": SLOW_MS}}  # fmt: skip
    elif scenario == "budget":
        limits = {"dailyBudgetUsd": BUDGET_USD}
        route["backends"] = [_backend("openai", o, 100, limits=limits), _backend("vllm", v, 0)]
        route["fallback"] = {"chain": ["openai", "vllm"]}
    elif scenario == "provider":  # only this route uses azure-openai: the budget is its own
        route["backends"] = [_backend("azure", o, 100), _backend("vllm", v, 0)]
        route["fallback"] = {"chain": ["azure", "vllm"]}
    elif scenario == "tpm":
        limits = {"tokensPerMinute": TPM_LIMIT}
        route["backends"] = [_backend("openai", o, 100, limits=limits), _backend("vllm", v, 0)]
        route["fallback"] = {"chain": ["openai", "vllm"]}
    elif scenario == "refuse":
        route["backends"] = [_backend("openai", o, 100, limits={"tokensPerMinute": TPM_LIMIT})]
    return route


def traffic_stack(upstreams: dict[str, dict[str, Upstream]]) -> dict[str, Any]:
    return {
        "apiVersion": "aiplane.dev/v1alpha1",
        "kind": "Stack",
        "metadata": {"name": "gateway-traffic", "namespace": "gw"},
        "spec": {
            "gateway": {
                "target": "litellm",
                "providerBudgetsUsd": {"azure-openai": BUDGET_USD},
                "litellm": {"masterKeySecret": {"name": "litellm", "key": "masterKey"}},
            },
            "routes": [_route(s, upstreams[s]) for s in SCENARIOS],
        },
    }


def render_doc(doc: dict[str, Any], where: Path) -> list[dict[str, Any]]:
    path = where / "stack.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return render_stack(load_and_check(str(path)))


def render_traffic_stack(
    upstreams: dict[str, dict[str, Upstream]], where: Path
) -> list[dict[str, Any]]:
    return render_doc(traffic_stack(upstreams), where)
