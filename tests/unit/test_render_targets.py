"""Target behaviour beyond the reference scenario: small stacks, one feature each."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest
import yaml

from aiplane.errors import StackError
from aiplane.render import render_target, render_with_warnings
from aiplane.stack.loader import LoadedStack, parse_stack


def load(spec: str) -> LoadedStack:
    head = (
        "apiVersion: aiplane.dev/v1alpha1\nkind: Stack\nmetadata: {name: t, namespace: ns}\nspec:\n"
    )
    return parse_stack((head + textwrap.indent(textwrap.dedent(spec), "  ")).encode(), "t.yaml")


def objects(spec: str, target: str) -> list[dict[str, Any]]:
    return render_target(load(spec), target)[0]


def by_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


# --- GPU Operator -----------------------------------------------------------------------------

A100_40 = """\
gpuPools:
  - name: small
    gpu: A100-40GB
    gpusPerNode: 1
    mig:
      policy: explicit
      strategy: {strategy}
      devices:
        - gpus: all
          profiles: {profiles}
"""


def mig_config(objs: list[dict[str, Any]]) -> dict[str, Any]:
    cm = next(o for o in objs if o["metadata"]["name"] == "aiplane-mig-parted-config")
    config: dict[str, Any] = yaml.safe_load(cm["data"]["config.yaml"])
    return config


def test_profile_names_resolve_per_gpu_model() -> None:
    objs = objects(A100_40.format(strategy="single", profiles="{1g.10gb: 4}"), "gpu_operator")
    (entry,) = mig_config(objs)["mig-configs"]["aiplane-small"]
    # 1g.10gb means two memory slices here (four fit), unlike on 80GB parts: pin the PCI ids.
    assert entry["devices"] == "all" and entry["mig-devices"] == {"1g.10gb": 4}
    assert entry["device-filter"] == ["0x20B010DE", "0x20B110DE", "0x20F110DE", "0x20F610DE"]


def test_unambiguous_profiles_need_no_filter() -> None:
    objs = objects(A100_40.format(strategy="mixed", profiles="{3g.20gb: 2}"), "gpu_operator")
    (entry,) = mig_config(objs)["mig-configs"]["aiplane-small"]
    assert "device-filter" not in entry


def test_impossible_layout_is_an_error() -> None:
    with pytest.raises(StackError) as caught:
        objects(
            A100_40.format(strategy="mixed", profiles="{3g.20gb: 2, 1g.5gb: 1}"), "gpu_operator"
        )
    assert "spec.gpuPools[0].mig.devices[0].profiles" in caught.value.diagnostics[0].format()


def test_single_strategy_refuses_mixed_slices() -> None:
    with pytest.raises(StackError, match="invalid MIG layout"):
        objects(
            A100_40.format(strategy="single", profiles="{3g.20gb: 1, 2g.10gb: 1}"), "gpu_operator"
        )


def test_no_gpu_pools_no_gpu_operator_objects() -> None:
    assert objects("priorities: {classes: [{name: low, value: 1}]}\n", "gpu_operator") == []


def test_uncovered_gpus_are_left_whole() -> None:
    spec = """\
    gpuPools:
      - name: p
        gpu: H100-80GB
        gpusPerNode: 4
        mig: {policy: explicit, devices: [{gpus: [0, 1], profiles: {7g.80gb: 1}}]}
    """
    entries = mig_config(objects(spec, "gpu_operator"))["mig-configs"]["aiplane-p"]
    assert entries[-1] == {"devices": [2, 3], "mig-enabled": False}


# --- vLLM ---------------------------------------------------------------------------------------

MIG_MODEL = """\
gpuPools:
  - name: a100
    gpu: A100-80GB
    gpusPerNode: 1
    mig: {{policy: explicit, strategy: {strategy}, devices: [{{gpus: all, profiles: {{3g.40gb: 2}}}}]}}
models:
  - name: small
    architecture: {{parametersB: 8, layers: 32, kvHeads: 8, headDim: 128}}
    versions: [{{name: v1, source: "pvc://weights/small-8b"}}]
    deployments: [{{version: v1, stage: production}}]
    serving: {{engineVersion: "0.11.0"}}
    resources: {{migProfile: 3g.40gb}}
    pool: a100
    autoscaling: {{minReplicas: 1, maxReplicas: 4, targetRequestsPerReplica: 8}}
"""


def test_mig_slice_resource_follows_the_strategy() -> None:
    mixed = by_kind(objects(MIG_MODEL.format(strategy="mixed"), "vllm"), "Deployment")[0]
    single = by_kind(objects(MIG_MODEL.format(strategy="single"), "vllm"), "Deployment")[0]
    limits = lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]  # noqa: E731
    assert limits(mixed) == {"nvidia.com/mig-3g.40gb": "1"}
    assert limits(single) == {"nvidia.com/gpu": "1"}


def test_pvc_source_hpa_and_no_fixed_replicas() -> None:
    objs = objects(MIG_MODEL.format(strategy="mixed"), "vllm")
    deployment = by_kind(objs, "Deployment")[0]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"][0] == "/mnt/models/weights/small-8b"
    claim = next(v for v in pod["volumes"] if "persistentVolumeClaim" in v)
    assert claim["persistentVolumeClaim"] == {"claimName": "weights", "readOnly": True}
    assert "replicas" not in deployment["spec"]  # the HPA owns the count
    drift = deployment["metadata"]["annotations"]["aiplane.dev/expected-drift"]
    assert drift == "spec.replicas=HorizontalPodAutoscaler"
    (hpa,) = by_kind(objs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == "vllm:num_requests_running"
    assert not by_kind(objs, "HTTPRoute")  # one stage: no split route
    # A MIG slice needs no whole GPUs, so a surge pod can always be tried.
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_full_gpu_pool_rolls_in_place() -> None:
    spec = """\
    gpuPools: [{name: p, gpu: H100-80GB, nodes: 1, gpusPerNode: 8}]
    models:
      - name: big
        versions: [{name: v1, source: "hf://o/big-70b"}, {name: v2, source: "hf://o/big-70b"}]
        deployments:
          - {version: v1, stage: production, weight: 90}
          - {version: v2, stage: canary, weight: 10}
        serving: {engineVersion: "0.17.1", tensorParallelSize: 4}
        resources: {gpus: 4}
        pool: p
    """
    for deployment in by_kind(objects(spec, "vllm"), "Deployment"):
        # Both stages fill the 8 GPUs: a surge pod would stay Pending, so replace in place.
        assert deployment["spec"]["strategy"]["rollingUpdate"] == {
            "maxSurge": 0,
            "maxUnavailable": 1,
        }
    roomy = objects(spec.replace("nodes: 1", "nodes: 2"), "vllm")
    assert by_kind(roomy, "Deployment")[0]["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 1


def test_service_names_start_with_a_letter() -> None:
    from aiplane.render.vllm import service_name

    assert service_name("llama", "canary") == "llama-canary"
    assert service_name("7b-chat", "production") == "m-7b-chat-production"


def test_startup_budget_scales_with_model_size() -> None:
    from aiplane.render.vllm_sizing import startup_budget_seconds
    from aiplane.stack.models import Model

    def model(name: str) -> Model:
        return Model.model_validate(
            {"name": name, "versions": [{"name": "v", "source": "hf://o/m"}]}
        )

    small, big, unknown = model("m-1b"), model("m-405b"), model("m")
    assert startup_budget_seconds(small) == 600
    assert startup_budget_seconds(big) > startup_budget_seconds(model("m-70b")) > 600
    assert startup_budget_seconds(unknown) == 1800


# --- routes -----------------------------------------------------------------------------------

PLAIN_ROUTE = """\
models:
  - name: a
    versions: [{name: v1, source: "hf://o/a"}, {name: v2, source: "hf://o/a"}]
    deployments:
      - {version: v1, stage: production, weight: 80}
      - {version: v2, stage: canary, weight: 20}
    serving: {engineVersion: "0.11.0"}
    resources: {gpus: 1}
  - name: b
    versions: [{name: v1, source: "hf://o/b"}]
    deployments: [{version: v1, stage: production}]
    serving: {engineVersion: "0.11.0"}
    resources: {gpus: 1}
routes:
  - name: chat
    path: /v1/chat
    gateway: {name: gw, namespace: infra}
    backends:
      - {name: a, weight: 60, local: {model: a}}
      - {name: b, weight: 40, local: {model: b, version: v1}}
    headerMatches: [{header: x-variant, value: b, backend: b}]
    shadow: {backend: b, percent: 10}
"""


def test_plain_route_weights_mirror_and_header_match() -> None:
    (route,) = objects(PLAIN_ROUTE, "routes")
    assert route["kind"] == "HTTPRoute" and route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == [{"name": "gw", "namespace": "infra"}]
    ab, split = route["spec"]["rules"]
    assert ab["matches"][0]["headers"] == [{"type": "Exact", "name": "x-variant", "value": "b"}]
    assert [r["name"] for r in ab["backendRefs"]] == ["b-production"]
    weights = {r["name"]: r["weight"] for r in split["backendRefs"]}
    assert weights == {"a-production": 4800, "a-canary": 1200, "b-production": 4000}
    mirror = split["filters"][0]
    assert mirror["type"] == "RequestMirror" and mirror["requestMirror"]["percent"] == 10


def test_fallback_only_backend_gets_a_lower_priority() -> None:
    spec = PLAIN_ROUTE.replace(
        "    headerMatches: [{header: x-variant, value: b, backend: b}]\n"
        "    shadow: {backend: b, percent: 10}\n",
        "    fallback: {chain: [a, spare]}\n",
    ).replace(
        "      - {name: b, weight: 40, local: {model: b, version: v1}}\n",
        "      - {name: b, weight: 40, local: {model: b, version: v1}}\n"
        "      - name: spare\n"
        "        external: {provider: openai, model: gpt-4o-mini}\n",
    )
    objs = objects(spec, "routes")
    route = by_kind(objs, "AIGatewayRoute")[0]
    refs = {r["name"]: r["priority"] for r in route["spec"]["rules"][-1]["backendRefs"]}
    assert refs["chat-spare"] == 1 and refs["a-production"] == 0
    assert not by_kind(objs, "BackendSecurityPolicy")  # no key given, none referenced


def test_route_daily_budget_is_reported_not_carried() -> None:
    spec = PLAIN_ROUTE + "    dailyBudgetUsd: 100\n"
    loaded = load(spec)
    objs, rendered = render_with_warnings(loaded)
    warnings = [*loaded.warnings, *rendered]
    route = next(o for o in objs if o["kind"] == "AIGatewayRoute")
    assert not any("budget" in k for k in route["metadata"]["annotations"])
    assert any(w.path == "spec.routes[0].dailyBudgetUsd" for w in warnings)
    assert any(w.path == "spec.routes[0].shadow" for w in warnings)  # no mirroring in AI routes


# --- Argo -------------------------------------------------------------------------------------

PIPELINE = """\
pipelines:
  - name: sweep
    parameters: {{dataset: s3://d}}
    schedule: {{cron: ["0 3 * * *"], timezone: UTC}}
    steps:
      - name: train
        image: trainer:1
        sweep: {{lr: [0.1, 0.01], batch: [8, 16]}}
        outputs: [{{name: score, path: /tmp/score}}]
      - name: gate
        image: busybox:1
        dependsOn: [train]
        when: {when}
"""


def test_sweep_cron_and_string_condition() -> None:
    objs = objects(PIPELINE.format(when="\"train.score == 'good'\""), "argo")
    template, cron = objs
    assert cron["kind"] == "CronWorkflow"
    assert cron["spec"]["schedules"] == ["0 3 * * *"] and "schedule" not in cron["spec"]
    assert cron["spec"]["workflowSpec"] == {"workflowTemplateRef": {"name": "sweep"}}
    dag = next(t for t in template["spec"]["templates"] if "dag" in t)["dag"]["tasks"]
    train, gate = dag
    assert len(train["withItems"]) == 4
    assert {"batch": 8, "lr": 0.01} in train["withItems"]
    assert {"name": "lr", "value": "{{item.lr}}"} in train["arguments"]["parameters"]
    assert gate["when"] == "'{{tasks.train.outputs.parameters.score}}' == 'good'"
    env = next(t for t in template["spec"]["templates"] if t["name"] == "train")["container"]["env"]
    assert {"name": "AIPLANE_PARAM_DATASET", "value": "{{workflow.parameters.dataset}}"} in env


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("train.score >> 1", "cannot read condition"),
        ("train.loss > 1", "has no output 'loss'"),
        ("gate.score > 1", "does not run before"),
    ],
)
def test_bad_conditions_are_located_errors(when: str, message: str) -> None:
    with pytest.raises(StackError) as caught:
        objects(PIPELINE.format(when=json.dumps(when)), "argo")
    text = caught.value.diagnostics[0].format()
    assert message in text and "spec.pipelines[0].steps[1].when" in text


def test_render_without_hera_import_at_startup() -> None:
    """The CLI imports aiplane.render lazily; the package itself must not pull hera in."""
    import subprocess
    import sys

    code = "import sys, aiplane.render, aiplane.commands.render; print('hera' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_step_output_references_become_dag_references() -> None:
    from aiplane.render.argo import argo_refs

    assert argo_refs("{{steps.train.outputs.version}}") == (
        "{{tasks.train.outputs.parameters.version}}"
    )
    assert argo_refs("{{workflow.name}}") == "{{workflow.name}}"
