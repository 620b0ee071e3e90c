"""The reference scenario (stacks/seed.yaml) renders every fact the issue asks for."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiplane.check import load_and_check
from aiplane.commands.render import to_yaml
from aiplane.render import render_stack, render_with_warnings

REPO = Path(__file__).resolve().parents[2]


@cache
def seed() -> tuple[dict[str, Any], ...]:
    return tuple(render_stack(load_and_check(str(REPO / "stacks" / "seed.yaml"))))


def one(kind: str, name: str) -> dict[str, Any]:
    found = [o for o in seed() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def test_mig_config_exactly_as_specified() -> None:
    cm = one("ConfigMap", "aiplane-mig-parted-config")
    assert cm["metadata"]["namespace"] == "gpu-operator"
    config = yaml.safe_load(cm["data"]["config.yaml"])
    assert set(config) == {"version", "mig-configs"} and config["version"] == "v1"
    gpu0, gpu1 = config["mig-configs"]["seed-a100"]
    assert gpu0["devices"] == [0] and gpu0["mig-enabled"] is True
    assert gpu0["mig-devices"] == {"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}
    # 1g.10gb is a different slice shape on A100-40GB: the entry is pinned to A100-80GB PCI ids.
    assert "0x20B210DE" in gpu0["device-filter"]
    assert gpu1 == {"devices": [1], "mig-enabled": False}
    # ClusterPolicy's default config must exist in the custom ConfigMap.
    assert config["mig-configs"]["all-disabled"] == [{"devices": "all", "mig-enabled": False}]
    for entries in config["mig-configs"].values():
        for entry in entries:
            assert set(entry) <= {"devices", "device-filter", "mig-enabled", "mig-devices"}


def test_cluster_policy_points_at_the_configs() -> None:
    policy = one("ClusterPolicy", "cluster-policy")
    assert "namespace" not in policy["metadata"]
    spec = policy["spec"]
    assert spec["mig"]["strategy"] == "mixed"
    assert spec["migManager"] == {
        "enabled": True,
        "config": {"name": "aiplane-mig-parted-config", "default": "all-disabled"},
    }
    assert spec["devicePlugin"]["config"]["name"] == "aiplane-device-plugin-config"
    assert spec["dcgmExporter"]["enabled"] and spec["gfd"]["enabled"]


def test_time_slicing_and_node_labels() -> None:
    cm = one("ConfigMap", "aiplane-device-plugin-config")
    sharing = yaml.safe_load(cm["data"]["inference-sharing"])
    assert sharing["version"] == "v1"
    sliced = sharing["sharing"]["timeSlicing"]["resources"]
    assert {"name": "nvidia.com/gpu", "replicas": 4} in sliced
    assert {"name": "nvidia.com/mig-3g.40gb", "replicas": 4} in sliced
    assert (
        cm["metadata"]["name"]
        in one("ClusterPolicy", "cluster-policy")["spec"]["devicePlugin"]["config"]["name"]
    )
    labels = one("NodeLabels", "a100")
    assert labels["apiVersion"] == "aiplane.dev/v1alpha1"
    assert labels["spec"] == {
        "nodeSelector": {"node.kubernetes.io/instance-type": "a2-ultragpu-2g"},
        "labels": {
            "nvidia.com/mig.config": "seed-a100",
            "nvidia.com/device-plugin.config": "inference-sharing",
        },
    }


def test_priority_classes_100_50_10() -> None:
    values = {
        o["metadata"]["name"]: (o["value"], o["preemptionPolicy"])
        for o in seed()
        if o["kind"] == "PriorityClass"
    }
    assert values == {
        "critical-inference": (100, "PreemptLowerPriority"),
        "training": (50, "PreemptLowerPriority"),
        "batch-scoring": (10, "Never"),
    }


def test_vllm_deployments() -> None:
    canary = one("Deployment", "llama-70b-canary")
    labels = canary["metadata"]["labels"]
    assert labels["aiplane.dev/model"] == "llama-70b"
    assert labels["aiplane.dev/version"] == "v2.1" and labels["aiplane.dev/stage"] == "canary"
    assert (
        canary["metadata"]["annotations"]["aiplane.dev/subject"] == "model llama-70b v2.1 (canary)"
    )
    pod = canary["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "vllm/vllm-openai:v0.17.1"
    assert container["command"] == ["vllm", "serve"]
    args = container["args"]
    pairs = dict(zip(args, [*args[1:], None], strict=True))
    assert pairs["--tensor-parallel-size"] == "4"
    assert pairs["--gpu-memory-utilization"] == "0.9"
    assert pairs["--max-model-len"] == "8192"
    assert pairs["--max-num-batched-tokens"] == "32768"
    assert pairs["--max-num-seqs"] == "256"
    assert pairs["--block-size"] == "16"
    assert pairs["--swap-space"] == "4"
    assert pairs["--dtype"] == "bfloat16"
    assert "--enable-prefix-caching" in args
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "4"}
    assert pod["nodeSelector"] == {"node.kubernetes.io/instance-type": "p5.48xlarge"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert pod["priorityClassName"] == "critical-inference"
    shm = next(v for v in pod["volumes"] if v["name"] == "shm")
    assert shm["emptyDir"]["medium"] == "Memory"
    assert {"name": "HF_HOME", "value": "/model-cache"} in container["env"]
    startup = container["startupProbe"]
    assert startup["httpGet"]["path"] == "/health"
    # A 70B bf16 model needs well over ten minutes to download and load.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 1200
    production = one("Deployment", "llama-70b-production")
    prod_args = production["spec"]["template"]["spec"]["containers"][0]["args"]
    assert prod_args[0] == "meta-llama/Llama-3.1-70B-Instruct"
    assert "1605565b47bb9346c5515c34102e054115b4f98b" in prod_args
    for name in ("llama-70b-canary", "llama-70b-production"):
        assert one("Service", name)["spec"]["ports"][0]["port"] == 8000
        assert one("PodDisruptionBudget", name)["spec"]["maxUnavailable"] == 1


def test_model_split_route_90_10() -> None:
    route = one("HTTPRoute", "llama-70b")
    refs = {r["name"]: r["weight"] for r in route["spec"]["rules"][0]["backendRefs"]}
    assert refs == {"llama-70b-production": 90, "llama-70b-canary": 10}


def test_four_step_dag_with_accuracy_gate() -> None:
    template = one("WorkflowTemplate", "llm-finetune")
    spec = template["spec"]
    dag = next(t for t in spec["templates"] if "dag" in t)
    tasks = {t["name"]: t for t in dag["dag"]["tasks"]}
    assert list(tasks) == ["data-preparation", "training", "evaluation", "deployment"]
    assert tasks["training"]["depends"] == "data-preparation"
    assert tasks["evaluation"]["depends"] == "training"
    assert tasks["deployment"]["when"] == "{{tasks.evaluation.outputs.parameters.accuracy}} > 0.85"
    by_name = {t["name"]: t for t in spec["templates"]}
    accuracy = by_name["evaluation"]["outputs"]["parameters"][0]
    assert accuracy["valueFrom"] == {"path": "/tmp/outputs/accuracy", "default": "0"}
    training = by_name["training"]
    assert training["container"]["resources"]["limits"] == {
        "nvidia.com/gpu": "4",
        "memory": "128Gi",
    }
    assert training["retryStrategy"]["limit"] == "2"
    assert training["priorityClassName"] == "training"
    env = {e["name"]: e.get("value") for e in training["container"]["env"]}
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.mlops.svc:5000"
    assert env["MLFLOW_EXPERIMENT_NAME"] == "llm-finetune"
    assert spec["podGC"]["strategy"] and spec["ttlStrategy"]["secondsAfterCompletion"] == 86400
    assert by_name["deployment"]["container"]["args"][:4] == [
        "promote-model",
        "llama-70b",
        "v2.1",
        "canary",
    ]


def test_route_70_20_10_with_fallback_and_limits() -> None:
    route = one("AIGatewayRoute", "chat-completions")
    assert route["apiVersion"] == "aigateway.envoyproxy.io/v1beta1"
    split = next(r for r in route["spec"]["rules"] if r["name"] == "split")
    weights = {r["name"]: r["weight"] for r in split["backendRefs"]}
    # 70/20/10, with the local share split 90/10 between the model's stages.
    assert weights == {
        "chat-completions-openai": 7000,
        "chat-completions-anthropic": 2000,
        "llama-70b-production": 900,
        "llama-70b-canary": 100,
    }
    # Nothing is carried in annotations: unenforced fields are diagnostics (see below).
    assert not [k for k in route["metadata"]["annotations"] if k.startswith("aiplane.dev/fall")]
    budget = one("QuotaPolicy", "chat-completions-openai-budget")["spec"]
    # $500 a day in nano-dollars, gpt-4o at $2.50 / $10 per million tokens.
    assert budget["perModelQuotas"] == [
        {
            "modelName": "gpt-4o",
            "quota": {
                "costExpression": "input_tokens * 2500u + output_tokens * 10000u",
                "defaultBucket": {"duration": "1d", "limit": 500_000_000_000},
                "mode": "Shared",
            },
        }
    ]
    assert {c["type"] for c in route["spec"]["llmRequestCosts"]} >= {"TotalToken"}
    policy = one("BackendTrafficPolicy", "chat-completions")["spec"]
    assert policy["targetRefs"][0] == {
        "group": "gateway.networking.k8s.io",
        "kind": "HTTPRoute",
        "name": "chat-completions",
    }
    assert policy["retry"]["numRetries"] == 2
    assert policy["retry"]["perRetry"]["timeout"] == "5000ms"  # p99LatencyMs, per attempt
    passive = policy["healthCheck"]["passive"]
    assert passive["maxEjectionPercent"] == 100 and passive["failurePercentageThreshold"] == 5
    rules = policy["rateLimit"]["global"]["rules"]
    limits = sorted(r["limit"]["requests"] for r in rules)
    assert limits == [60, 1000, 50000]
    token_rule = next(r for r in rules if "cost" in r)
    assert token_rule["cost"]["response"]["metadata"]["key"] == "llm_total_token"
    bsp = one("BackendSecurityPolicy", "chat-completions-openai")["spec"]
    assert bsp["type"] == "APIKey" and bsp["apiKey"]["secretRef"] == {"name": "openai-credentials"}
    assert (
        one("AIServiceBackend", "chat-completions-anthropic")["spec"]["schema"]["name"]
        == "Anthropic"
    )
    assert one("Backend", "chat-completions-openai")["spec"]["endpoints"][0]["fqdn"] == {
        "hostname": "api.openai.com",
        "port": 443,
    }


def test_budgets_are_reported_as_warnings() -> None:
    loaded = load_and_check(str(REPO / "stacks" / "seed.yaml"))
    _, rendered = render_with_warnings(loaded)
    warnings = [*loaded.warnings, *rendered]
    texts = [w.format() for w in warnings]
    assert all(w.severity == "warning" for w in warnings)
    assert any("dailyBudgetUsd" in t and "QuotaPolicy" in t for t in texts)
    assert any("p99LatencyMs" in t for t in texts)
    assert any("at least 5 hosts" in t for t in texts)  # failure-percentage caveat
    assert any("429" in t and "does not fail over" in t for t in texts)  # QuotaPolicy caveat


def test_hnsw_collection_is_a_pgvector_resource() -> None:
    from aiplane.render.vector_collections import collection_resources

    [resource] = collection_resources(load_and_check("stacks/seed.yaml"))
    assert str(resource.address) == "collection rag-db/docs"
    assert resource.provider == "pgvector"
    lines = (REPO / "stacks" / "seed.yaml").read_text().splitlines()
    declared = next(i for i, line in enumerate(lines, 1) if line.strip() == "- name: docs")
    assert resource.source == f"stacks/seed.yaml#L{declared}"
    desired = resource.body["desired"]
    assert desired["index"] == {
        "method": "hnsw",
        "opclass": "vector_cosine_ops",
        "cast": None,
        "params": {"m": 16, "ef_construction": 200},
    }
    assert (desired["table"], desired["dimension"]) == ("docs", 1024)
    assert desired["payload"] == {"source": "text", "chunk": "integer"}
    assert desired["owner"] == {"stack": "seed", "collection": "docs",
                                "query": {"hnsw.ef_search": 100}}  # fmt: skip
    # The password travels only as where to read it from.
    assert resource.body["connection"]["password"] == {
        "secretName": "pgvector-credentials",
        "secretKey": "password",
    }
    assert not any(
        o["kind"] == "ConfigMap" and "collection" in o["metadata"]["name"] for o in seed()
    )


def test_every_object_is_labelled_and_located() -> None:
    shared = 0
    for obj in seed():
        meta = obj["metadata"]
        if meta["annotations"].get("aiplane.dev/ownership") == "fields":
            # shared with other stacks (the GPU Operator's objects): no labels that claim it
            assert "labels" not in meta, meta["name"]
            shared += 1
        else:
            assert meta["labels"]["app.kubernetes.io/managed-by"] == "aiplane"
            assert meta["labels"]["aiplane.dev/stack"] == "seed"
        assert "stacks/seed.yaml#L" in meta["annotations"]["aiplane.dev/source"]
        assert meta["annotations"]["aiplane.dev/subject"]
        gpu_operator = (
            obj["kind"] == "ConfigMap"
            and meta["name"].startswith("aiplane-")
            and (meta.get("namespace") == "gpu-operator")
        )
        if "namespace" in meta and not gpu_operator:
            assert meta["namespace"] == "ai-platform"
    assert shared == 6  # ClusterPolicy, the two GPU Operator ConfigMaps, 3 PriorityClasses
    assert seed()[0]["kind"] == "Namespace"


def test_sorted_by_kind_rank_then_name() -> None:
    """Objects others depend on come first, and each kind is sorted by namespace and name
    (checked against the dependency order itself, not the renderer's sort key)."""
    objects = seed()
    kinds = list(dict.fromkeys(o["kind"] for o in objects))
    first = {kind: kinds.index(kind) for kind in kinds}
    for before, after in [("Namespace", "PriorityClass"), ("PriorityClass", "Deployment"),
                          ("ConfigMap", "Deployment"), ("ClusterPolicy", "NodeLabels"),
                          ("NodeLabels", "Deployment"), ("Deployment", "Service"),
                          ("Service", "HTTPRoute"), ("HTTPRoute", "AIGatewayRoute"),
                          ("AIGatewayRoute", "WorkflowTemplate")]:  # fmt: skip
        assert first[before] < first[after], (before, after, kinds)
    runs = [o["kind"] for o in objects]
    assert runs == sorted(runs, key=kinds.index), "each kind is one contiguous run"
    for kind in kinds:
        names = [(o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objects
                 if o["kind"] == kind]  # fmt: skip
        assert names == sorted(names), kind


def test_two_renders_are_byte_identical() -> None:
    path = str(REPO / "stacks" / "seed.yaml")
    first = to_yaml(render_stack(load_and_check(path)))
    second = to_yaml(render_stack(load_and_check(path)))
    assert first == second


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_cli_output_is_stable_across_processes(fmt: str) -> None:
    """Separate processes (fresh hash seeds) print the same bytes."""
    cmd = [sys.executable, "-m", "aiplane", "render", "stacks/seed.yaml", "--format", fmt]
    runs = [
        subprocess.run(
            cmd,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed_, "PATH": "/usr/bin:/bin"},
        )
        for seed_ in ("1", "2")
    ]
    assert runs[0].stdout == runs[1].stdout
    assert "warning:" in runs[0].stderr
    parsed = (
        json.loads(runs[0].stdout)["items"]
        if fmt == "json"
        else list(yaml.safe_load_all(runs[0].stdout))
    )
    assert len(parsed) == len([o for o in seed() if o["kind"] != "NodeLabels"])


def test_out_dir_writes_one_file_per_object(tmp_path: Path) -> None:
    from aiplane.commands.render import render_main

    assert render_main([str(REPO / "stacks" / "seed.yaml")], str(tmp_path), "yaml") == 0
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.yaml"))
    assert len(files) == len([o for o in seed() if o["kind"] != "NodeLabels"])
    assert "_cluster/clusterpolicy-cluster-policy.yaml" in files
    assert "ai-platform/deployment-llama-70b-canary.yaml" in files
    assert "gpu-operator/configmap-aiplane-mig-parted-config.yaml" in files


def test_invalid_stack_raises_stack_error(tmp_path: Path) -> None:
    from aiplane.commands.render import render_main
    from aiplane.errors import StackError

    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: aiplane.dev/v1alpha1\nkind: Stack\nmetadata: {name: Bad_Name}\n")
    with pytest.raises(StackError):
        render_main([str(bad)], None, "yaml")


def test_render_tags_every_resource_with_its_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kubernetes objects go to ``kubernetes``, NodeLabels to ``node-labels``, and a target can add
    resources for any other provider (``Context.add``), all in one rendering."""
    import aiplane.render as render
    from aiplane.plan.address import Address
    from aiplane.providers.base import Resource

    loaded = load_and_check(str(REPO / "stacks" / "seed.yaml"))
    plain = render.render_all(loaded)
    # The seed's document collection lives in pgvector: one resource beyond the manifests.
    assert [str(r.address) for r in plain.resources if r.provider == "pgvector"] == [
        "collection rag-db/docs"
    ]
    providers = [r.provider for r in plain.resources if r.provider != "pgvector"]
    assert len(providers) == len(plain.manifests)
    assert {p for p, m in zip(providers, plain.manifests, strict=True)
            if m["kind"] == "NodeLabels"} == {"node-labels"}  # fmt: skip
    assert providers.count("kubernetes") == sum(m["kind"] != "NodeLabels" for m in plain.manifests)
    first = plain.resources[0]
    assert (str(first.address), first.source.startswith(f"{loaded.path}#L")) == (
        "Namespace/ai-platform", True)  # fmt: skip

    extra = Resource(Address("toy", "collection", "", "docs"), {"size": 768}, "s#L1", "c docs")
    targets = {**render.targets(), "toy": lambda ctx: ctx.add(extra) or []}
    monkeypatch.setattr(render, "targets", lambda: targets)
    with_toy = render.render_all(loaded)
    assert with_toy.resources[-1] == extra and with_toy.manifests == plain.manifests
