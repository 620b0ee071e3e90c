"""Real requests through a real LiteLLM proxy running the config aiplane rendered.

The proxy (pinned ``litellm[proxy]``, no database, no network) sits in front of loopback
stand-ins for OpenAI, Anthropic and a local vLLM (``tests/servers/upstreams.py``). Each scenario
is one route of ``tests/gateway/stack.py`` with its own three upstreams. What is counted is what
the upstreams received and served, not what the proxy says about itself.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

import pytest

from tests.gateway.client import chat, chat_many, stream_text
from tests.gateway.stack import BUDGET_USD, CALL_COST, SLOW_MS, TPM_LIMIT
from tests.servers.litellm import LITELLM_VERSION, Proxy
from tests.servers.support import http_ok
from tests.servers.upstreams import Upstream, content_of, expected_stream_text

pytestmark = pytest.mark.litellm
Ups = dict[str, dict[str, Upstream]]
# ±3 points over 1,000 requests fails ~5 % of honest runs by chance alone (the 70 % share has a
# standard deviation of 1.45 points); over 2,000 it is ~0.4 %.
SPLIT_REQUESTS = 2000


def _reset(group: dict[str, Upstream]) -> None:
    for upstream in group.values():
        upstream.reset()


def test_weighted_split_is_70_20_10_within_3_points(proxy: Proxy, upstreams: Ups) -> None:
    group = upstreams["split"]
    _reset(group)
    answers = chat_many(proxy, "split", SPLIT_REQUESTS)
    assert [a.status for a in answers].count(200) == SPLIT_REQUESTS, answers[0].body
    served = {name: up.served for name, up in group.items()}
    assert sum(served.values()) == SPLIT_REQUESTS
    # Every answer names the upstream that produced it, and the upstreams' own counts agree.
    by_content = {name: sum(a.content() == content_of(up) for a in answers)
                  for name, up in group.items()}  # fmt: skip
    assert by_content == served
    shares = {name: 100 * n / SPLIT_REQUESTS for name, n in served.items()}
    for name, want in (("openai", 70), ("anthropic", 20), ("vllm", 10)):
        assert abs(shares[name] - want) <= 3, shares


def _path(group: dict[str, Upstream], before: dict[str, int]) -> list[str]:
    """Upstreams a request reached, in chain order, repeats (retries) folded."""
    return [name for name in ("openai", "anthropic", "vllm") if group[name].calls > before[name]]


def test_500s_move_traffic_along_the_chain_in_declared_order(proxy: Proxy, upstreams: Ups) -> None:
    group = upstreams["chain"]
    _reset(group)
    group["openai"].fail_with = 500
    paths: list[list[str]] = []
    for _ in range(30):
        before = {name: up.calls for name, up in group.items()}
        answer = chat(proxy, "chain")
        assert answer.status == 200, answer.body
        path = _path(group, before)
        served_by = next(n for n, up in group.items() if answer.content() == content_of(up))
        assert path[-1] == served_by, (path, served_by)
        paths.append(path)
    # A request that reached the failing openai went on to anthropic, never straight to vllm.
    assert ["openai", "anthropic"] in paths, paths
    assert all(p in (["openai", "anthropic"], ["anthropic"], ["vllm"]) for p in paths), paths
    assert group["openai"].served == 0

    group["anthropic"].fail_with = 500
    served = group["anthropic"].served
    for _ in range(10):
        answer = chat(proxy, "chain")
        assert answer.status == 200, answer.body
        assert answer.content() == content_of(group["vllm"])
    assert group["anthropic"].served == served


def test_answers_slower_than_the_latency_trigger_are_served_by_the_next_backend(
    proxy: Proxy, upstreams: Ups
) -> None:
    group = upstreams["slow"]
    _reset(group)
    group["openai"].delay = 3.0
    limit = SLOW_MS / 1000
    for _ in range(3):
        answer = chat(proxy, "slow")
        assert answer.status == 200, answer.body
        assert answer.content() == content_of(group["anthropic"])
        # The timeout, then one fast call: bounded below the slow upstream's 3 s (the margin
        # allows for a loaded 2-core machine).
        assert limit <= answer.seconds < limit + 2.0, answer.seconds
    assert group["openai"].calls >= 1 and group["openai"].served <= group["openai"].calls


def _away_from_minute_edge() -> None:
    """Per-minute counters reset on the minute; start a short burst well inside one."""
    second = datetime.datetime.now(datetime.UTC).second
    if second >= 55:
        time.sleep(61 - second)


def test_daily_budget_moves_traffic_away_after_the_expected_calls(
    proxy: Proxy, upstreams: Ups
) -> None:
    group = upstreams["budget"]
    _reset(group)
    expected = -(-round(BUDGET_USD * 1e6) // round(CALL_COST * 1e6))  # ceil: 5 calls
    answers = [chat(proxy, "budget") for _ in range(expected + 6)]
    assert all(a.status == 200 for a in answers), [a.body for a in answers if a.status != 200]
    assert abs(group["openai"].served - expected) <= 1, group["openai"].served
    # Once the budget is spent every call goes to the next backend of the chain.
    tail = answers[expected + 1 :]
    assert all(a.content() == content_of(group["vllm"]) for a in tail)


def test_provider_budget_moves_traffic_away_after_the_expected_calls(
    proxy: Proxy, upstreams: Ups
) -> None:
    group = upstreams["provider"]  # "openai" here is the stand-in for Azure OpenAI
    _reset(group)
    expected = -(-round(BUDGET_USD * 1e6) // round(CALL_COST * 1e6))
    answers = [chat(proxy, "provider") for _ in range(expected + 6)]
    assert all(a.status == 200 for a in answers), [a.body for a in answers if a.status != 200]
    assert abs(group["openai"].served - expected) <= 1, group["openai"].served
    assert all(a.content() == content_of(group["vllm"]) for a in answers[expected + 1 :])


def test_tokens_per_minute_limit_fails_over_then_refuses_without_a_chain(
    proxy: Proxy, upstreams: Ups
) -> None:
    _away_from_minute_edge()
    group = upstreams["tpm"]
    _reset(group)
    per_call = group["openai"].prompt_tokens + group["openai"].completion_tokens
    expected = -(-TPM_LIMIT // per_call)  # calls until usage reaches the limit: 4
    # Usage is recorded after each answer, so one call may slip through before it counts.
    answers = [chat(proxy, "tpm") for _ in range(expected + 4)]
    assert all(a.status == 200 for a in answers)
    served = group["openai"].served
    assert served in (expected, expected + 1), served
    assert group["vllm"].served == expected + 4 - served
    assert all(a.content() == content_of(group["vllm"]) for a in answers[served:])

    lone = upstreams["refuse"]
    _reset(lone)
    answers = [chat(proxy, "refuse") for _ in range(expected + 3)]
    statuses = [a.status for a in answers]
    served = lone["openai"].served
    assert served in (expected, expected + 1), statuses
    assert statuses == [200] * served + [429] * (expected + 3 - served), statuses


def _streamed_by(proxy: Proxy, group: dict[str, Upstream], count: int) -> set[str]:
    """Stream ``count`` answers; each must arrive whole, as its upstream sent it."""
    names: set[str] = set()
    for _ in range(count):
        answer = chat(proxy, "stream", stream=True)
        assert answer.status == 200, answer.body
        text = stream_text(answer.body)
        name = next(n for n, up in group.items() if text.startswith(content_of(up)))
        assert text == expected_stream_text(group[name]), text
        names.add(name)
    return names


def test_streaming_passes_through_intact(proxy: Proxy, upstreams: Ups) -> None:
    group = upstreams["stream"]
    _reset(group)
    assert "openai" in _streamed_by(proxy, group, 8)  # 70 % each: missing 8 times is ~1e-4
    group["openai"].fail_with = group["vllm"].fail_with = 500
    assert _streamed_by(proxy, group, 4) == {"anthropic"}  # the Anthropic SSE, translated
    group["vllm"].fail_with, group["anthropic"].fail_with = None, 500
    assert _streamed_by(proxy, group, 4) == {"vllm"}


def test_the_rendered_probes_answer_on_the_real_proxy(
    proxy: Proxy, traffic_manifests: list[dict[str, Any]]
) -> None:
    deployment = next(m for m in traffic_manifests if m["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].endswith(f"v{LITELLM_VERSION}")  # the image is the tested version
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["port"] == 4000
        assert http_ok(f"{proxy.base_url}{get['path']}"), probe
