"""Fixtures for the gateway tests: loopback upstream stand-ins and one real LiteLLM proxy.

The proxy runs the config aiplane renders from ``traffic_stack`` (one route per scenario, each
with its own three upstreams, so cooldowns, budgets and counters of one scenario never leak into
another). It is started once per session; tests reset their own upstreams.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.stack import MASTER_KEY_VAR, SCENARIOS, render_traffic_stack
from tests.servers.litellm import Proxy, deployment_env, proxy_config_text, start_proxy
from tests.servers.upstreams import Upstream


@pytest.fixture(scope="session")
def upstreams() -> Iterator[dict[str, dict[str, Upstream]]]:
    """scenario → {"openai", "anthropic", "vllm"} → a running stand-in."""
    made = {
        scenario: {
            "openai": Upstream(f"{scenario}-openai", "openai").start(),
            "anthropic": Upstream(f"{scenario}-anthropic", "anthropic").start(),
            "vllm": Upstream(f"{scenario}-vllm", "openai").start(),
        }
        for scenario in SCENARIOS
    }
    yield made
    for group in made.values():
        for upstream in group.values():
            upstream.stop()


@pytest.fixture(scope="session")
def traffic_manifests(
    upstreams: dict[str, dict[str, Upstream]], tmp_path_factory: pytest.TempPathFactory
) -> list[dict]:
    return render_traffic_stack(upstreams, tmp_path_factory.mktemp("stack"))


@pytest.fixture(scope="session")
def proxy(
    traffic_manifests: list[dict], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    workdir: Path = tmp_path_factory.mktemp("litellm")
    server = start_proxy(
        proxy_config_text(traffic_manifests),
        deployment_env(traffic_manifests),
        workdir,
        MASTER_KEY_VAR,
    )
    yield server
    server.stop()
