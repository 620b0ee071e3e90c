"""Gateway targets: the capability table, its diagnostics, the LiteLLM render and route-term plans."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiplane.check import load_and_check
from aiplane.errors import StackError
from aiplane.gateway.capabilities import CAPABILITIES, set_fields
from aiplane.output.route_terms import litellm_config_changes, route_terms
from aiplane.render import render_stack
from aiplane.stack.models import Route
from tests.unit.test_render_schemas import validate

REPO = Path(__file__).resolve().parents[2]
MASTER = {"name": "litellm-master", "key": "masterKey"}


def seed_doc(**gateway: Any) -> dict[str, Any]:
    doc = yaml.safe_load((REPO / "stacks" / "seed.yaml").read_text())
    doc["spec"]["gateway"] = {
        "target": "litellm",
        "litellm": {"masterKeySecret": MASTER},
        **gateway,
    }
    return doc


def write(tmp_path: Path, doc: dict[str, Any], name: str = "stack.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def config_of(objs: list[dict[str, Any]]) -> dict[str, Any]:
    cm = next(o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "litellm")
    return dict(yaml.safe_load(cm["data"]["config.yaml"]))


def test_every_route_field_has_an_entry_for_both_targets() -> None:
    route = Route.model_validate(yaml.safe_load((REPO / "stacks" / "seed.yaml").read_text())
                                 ["spec"]["routes"][0])  # fmt: skip
    keys = {key for key, _ in set_fields(route)}
    assert keys <= set(CAPABILITIES)
    assert all(set(v) == {"litellm", "envoy-ai-gateway"} for v in CAPABILITIES.values())
    assert CAPABILITIES["rateLimits.perApiKey.requestsPerMinute"]["litellm"].status == (
        "needs-database"
    )


def test_litellm_diagnostics_are_located_and_strict_makes_them_errors(tmp_path: Path) -> None:
    loaded = load_and_check(write(tmp_path, seed_doc()))
    by_path = {w.path: w for w in loaded.warnings}
    key_limit = by_path["spec.routes[0].rateLimits.perApiKey.requestsPerMinute"]
    assert "needs the LiteLLM database" in key_limit.message and key_limit.line > 0
    p99 = by_path["spec.routes[0].fallback.triggers.p99LatencyMs"]
    assert "approximated on litellm" in p99.message
    assert "spec.routes[0].backends[0].weight" not in by_path  # enforced: nothing to say
    with pytest.raises(StackError) as raised:
        load_and_check(write(tmp_path, seed_doc(strict=True), "strict.yaml"))
    errors = [d for d in raised.value.diagnostics if d.severity == "error"]
    unenforced = {p for p, w in by_path.items() if "twice" not in w.message}  # a note, not a field
    assert {d.path for d in errors} == unenforced
    assert all(d.line > 0 for d in errors)


def test_litellm_proxy_needs_a_master_key_and_redis_for_replicas(tmp_path: Path) -> None:
    doc = seed_doc()
    del doc["spec"]["gateway"]["litellm"]["masterKeySecret"]
    doc["spec"]["gateway"]["litellm"]["replicas"] = 2
    with pytest.raises(StackError) as raised:
        load_and_check(write(tmp_path, doc))
    messages = [d.message for d in raised.value.diagnostics if d.severity == "error"]
    assert any("refuses to start without a master key" in m for m in messages)
    assert any("2 proxy replicas" in m for m in messages)


def test_litellm_render_holds_the_seed_gateway(tmp_path: Path) -> None:
    redis = {"host": "redis.cache", "passwordSecret": {"name": "redis", "key": "password"}}
    doc = seed_doc(litellm={"masterKeySecret": MASTER, "replicas": 2, "redis": redis},
                   providerBudgetsUsd={"anthropic": 300})  # fmt: skip
    objs = render_stack(load_and_check(write(tmp_path, doc)))
    config = config_of(objs)
    weighted = {m["model_info"]["id"]: m["litellm_params"] for m in config["model_list"]
                if m["model_name"] == "chat-completions"}  # fmt: skip
    assert {k: p["weight"] for k, p in weighted.items()} == {
        "chat-completions/openai": 70,
        "chat-completions/anthropic": 20,
        "chat-completions/local-llama/production": 9,
        "chat-completions/local-llama/canary": 1,
    }
    openai = weighted["chat-completions/openai"]
    assert openai["max_budget"] == 500 and openai["budget_duration"] == "1d"
    assert openai["tpm"] == 100000 and openai["timeout"] == 5.0
    assert openai["api_key"] == "os.environ/SECRET_OPENAI_CREDENTIALS_APIKEY"
    router = config["router_settings"]
    assert router["fallbacks"] == [
        {"chat-completions": ["chat-completions--anthropic", "chat-completions--local-llama"]}
    ]
    assert router["provider_budget_config"] == {
        "anthropic": {"budget_limit": 300, "time_period": "1d"}
    }
    assert router["redis_host"] == "redis.cache"
    assert router["redis_password"] == "os.environ/SECRET_REDIS_PASSWORD"
    deployment = next(
        o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "litellm"
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].endswith("1.108.5")
    env = {e["name"]: e for e in container["env"]}
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"]["value"] == "True"
    assert env["DEFAULT_FAILURE_THRESHOLD_PERCENT"]["value"] == "0.05"
    assert env["SECRET_OPENAI_CREDENTIALS_APIKEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "openai-credentials", "key": "apiKey"}  # fmt: skip
    limits = next(o for o in objs if o["metadata"]["name"] == "litellm-db-limits")
    db = yaml.safe_load(limits["data"]["limits.yaml"])["chat-completions"]
    assert db["key"] == {"models": ["chat-completions"], "rpm_limit": 60, "tpm_limit": 50000}
    assert db["team"]["max_budget"] == 2000 and db["team"]["budget_duration"] == "1d"
    assert not [o for o in objs if o["kind"] in ("AIGatewayRoute", "QuotaPolicy")]
    failures = {f"{o['kind']}/{o['metadata']['name']}": validate(o) for o in objs}
    assert not {k: v for k, v in failures.items() if v}


def test_plan_terms_of_a_proxy_config_change_match_the_config_diff(tmp_path: Path) -> None:
    """The proxy config changes with the stack exactly as the plan's route line says."""
    before_doc = seed_doc()
    after_doc = copy.deepcopy(before_doc)
    backends = after_doc["spec"]["routes"][0]["backends"]
    backends[0]["weight"], backends[1]["weight"] = 60, 30
    backends[0]["limits"]["dailyBudgetUsd"] = 800
    before = config_of(render_stack(load_and_check(write(tmp_path, before_doc, "a.yaml"))))
    after = config_of(render_stack(load_and_check(write(tmp_path, after_doc, "b.yaml"))))
    changed = {
        (m["model_info"]["id"], k)
        for m, n in zip(before["model_list"], after["model_list"], strict=True)
        for k in set(m["litellm_params"]) | set(n["litellm_params"])
        if m["litellm_params"].get(k) != n["litellm_params"].get(k)
    }
    assert changed == {
        ("chat-completions/openai", "weight"),
        ("chat-completions/anthropic", "weight"),
        ("chat-completions/openai", "max_budget"),
    }
    assert before["router_settings"] == after["router_settings"]
    lines = litellm_config_changes(yaml.safe_dump(before), yaml.safe_dump(after))
    assert lines == [
        (
            "route chat-completions",
            "openai weight 70 -> 60, anthropic 20 -> 30, openai daily budget $500 -> $800",
        )
    ]


class _Diff:
    def __init__(self, path: str, before: Any, after: Any) -> None:
        self.path, self.before, self.after = path, before, after


def test_envoy_plan_terms_from_route_weights_and_quota_limits() -> None:
    ref = "spec.rules[name=split].backendRefs[name=chat-completions-{}].weight"
    diffs = [_Diff(ref.format("openai"), 7000, 6000), _Diff(ref.format("anthropic"), 2000, 3000)]
    assert route_terms("AIGatewayRoute", "chat-completions", "route chat-completions", diffs) == [
        ("route chat-completions", "openai weight 70 -> 60, anthropic 20 -> 30")
    ]
    limit = [_Diff("spec.perModelQuotas[0].quota.defaultBucket.limit", 500 * 10**9, 800 * 10**9)]
    assert route_terms(
        "QuotaPolicy", "chat-completions-openai-budget", "route chat-completions", limit
    ) == [("route chat-completions", "openai daily budget $500 -> $800")]
    assert route_terms("Deployment", "x", "model x", diffs) is None


def test_plan_prints_route_terms_and_located_gateway_warnings(tmp_path: Path) -> None:
    import subprocess
    import sys

    before_doc = seed_doc()
    after_doc = copy.deepcopy(before_doc)
    after_doc["spec"]["routes"][0]["backends"][0]["limits"]["dailyBudgetUsd"] = 800
    before, after = write(tmp_path, before_doc, "a.yaml"), write(tmp_path, after_doc, "b.yaml")
    out_dir = tmp_path / "rendered"
    run = [sys.executable, "-m", "aiplane"]
    subprocess.run([*run, "render", before, "-o", str(out_dir)], check=True, capture_output=True)
    res = subprocess.run([*run, "plan", after, "--against", str(out_dir)],
                         capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "~ route chat-completions: openai daily budget $500 -> $800" in res.stdout
    assert "gateway litellm: pods restart to load the new proxy config" in res.stdout
    located = [line for line in res.stderr.splitlines() if "needs the LiteLLM database" in line]
    assert located and all(line.startswith(f"{after}:") for line in located)


def test_envoy_weights_read_the_weights_annotation_and_other_diffs_stay() -> None:
    from aiplane.output.route_terms import explains

    ann = "metadata.annotations.aiplane.dev/weights"
    diffs = [_Diff(ann, "openai=70,local v2.0=30", "openai=60,local v2.0=40")]
    assert route_terms("AIGatewayRoute", "r", "route r", diffs) == [
        ("route r", "openai weight 70 -> 60, local v2.0 30 -> 40")
    ]
    assert explains("AIGatewayRoute", ann)
    assert not explains("AIGatewayRoute", "spec.rules[name=split].timeouts.request")
    assert explains("ConfigMap", "data.config.yaml") and not explains("ConfigMap", "data.x")
