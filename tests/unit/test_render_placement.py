"""The GPU placement planner's decisions in rendered manifests (``mig: auto``,
``resources: auto``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiplane.check import load_and_check
from aiplane.errors import StackError
from aiplane.gpu.catalog import get_gpu
from aiplane.gpu.from_stack import placement_for_stack
from aiplane.gpu.layouts import check_layout
from aiplane.render import render_target
from aiplane.stack.loader import LoadedStack

REPO = Path(__file__).resolve().parents[2]

STACK = """\
apiVersion: aiplane.dev/v1alpha1
kind: Stack
metadata: {name: demo}
spec:
  gpuPools:
    - name: mig
      gpu: H100-80GB
      nodes: NODES
      gpusPerNode: GPUS
      mig: {policy: auto, strategy: mixed}
  models:
    - name: small
      architecture: Llama-3.2-1B
      versions: [{name: v1, source: "hf://meta-llama/Llama-3.2-1B-Instruct"}]
      deployments: [{version: v1, stage: production}]
      serving: {maxModelLen: 4096}
      resources: auto
      pool: mig
      replicas: 3
    - name: mid
      architecture: Llama-3.1-8B
      versions: [{name: v1, source: "hf://meta-llama/Llama-3.1-8B-Instruct"}]
      deployments: [{version: v1, stage: production}]
      serving: {maxModelLen: 8192}
      resources: auto
      pool: mig
      replicas: 2
"""


def _load(
    tmp_path: Path, nodes: int = 1, gpus: int = 2, extra: str = "", placement: bool = True
) -> LoadedStack:
    path = tmp_path / "stack.yaml"
    text = STACK.replace("NODES", str(nodes)).replace("GPUS", str(gpus)) + extra
    path.write_text(text, encoding="utf-8")
    return load_and_check(str(path), placement=placement)


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def _mig_configs(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    configmap = _one(objects, "ConfigMap", "aiplane-mig-parted-config")
    configs: dict[str, list[dict[str, Any]]] = yaml.safe_load(configmap["data"]["config.yaml"])[
        "mig-configs"
    ]
    return configs


def _as_layout(
    entries: list[dict[str, Any]],
) -> tuple[tuple[int, tuple[tuple[str, int], ...]], ...]:
    """mig-parted entries back to ``PoolPlacement.mig_devices`` form, checking every layout."""
    gpu = get_gpu("H100-80GB")
    assert gpu is not None
    out = []
    for entry in entries:
        if entry["mig-enabled"]:
            assert check_layout(gpu, entry["mig-devices"]) is None
            counts = tuple(sorted(entry["mig-devices"].items()))
            out.extend((index, counts) for index in entry["devices"])
    return tuple(sorted(out))


def test_auto_pool_gets_the_planners_layout(tmp_path: Path) -> None:
    loaded = _load(tmp_path)
    objects, warnings = render_target(loaded, "gpu_operator")
    pool = next(p for p in placement_for_stack(loaded).pools if p.name == "mig")
    ((_nodes, layout),) = pool.node_layouts()
    configs = _mig_configs(objects)
    assert set(configs) == {"all-disabled", "aiplane-mig"}
    assert _as_layout(configs["aiplane-mig"]) == layout and layout
    labels = _one(objects, "NodeLabels", "mig")["spec"]
    assert labels == {
        "nodeSelector": {"aiplane.dev/pool": "mig"},
        "labels": {"nvidia.com/mig.config": "aiplane-mig"},
    }
    policy = _one(objects, "ClusterPolicy", "cluster-policy")["spec"]
    assert policy["mig"] == {"strategy": "mixed"}
    assert policy["migManager"]["enabled"] is True
    assert not [w for w in warnings if "auto" in w.message]


def test_differing_node_layouts_get_one_config_per_node_group(tmp_path: Path) -> None:
    # One GPU per node: a whole-GPU slice on one, seven 1g.10gb on the other.
    path = tmp_path / "stack.yaml"
    text = STACK.replace("NODES", "2").replace("GPUS", "1").replace("replicas: 3", "replicas: 7")
    text = text.replace("resources: auto\n      pool: mig\n      replicas: 2", "X")
    text = text.replace("X", "resources: {migProfile: 7g.80gb}\n      pool: mig\n      replicas: 1")
    path.write_text(text, encoding="utf-8")
    loaded = load_and_check(str(path))
    pool = next(p for p in placement_for_stack(loaded).pools if p.name == "mig")
    groups = pool.node_layouts()
    assert len(groups) == 2
    objects, warnings = render_target(loaded, "gpu_operator")
    configs = _mig_configs(objects)
    assert set(configs) == {"all-disabled", "aiplane-mig-1", "aiplane-mig-2"}
    for n, (nodes, layout) in enumerate(groups, start=1):
        assert _as_layout(configs[f"aiplane-mig-{n}"]) == layout
        spec = _one(objects, "NodeLabels", f"mig-{n}")["spec"]
        assert spec["nodeSelector"] == {"aiplane.dev/pool": "mig", "aiplane.dev/node-group": str(n)}
        assert spec["labels"] == {"nvidia.com/mig.config": f"aiplane-mig-{n}"}
        assert spec["nodes"] == len(nodes)
    assert not any(o["metadata"]["name"] == "mig" for o in objects if o["kind"] == "NodeLabels")
    assert sum("aiplane.dev/node-group" in w.hint for w in warnings) == 2
    # Each model lives in one group, so its pods are pinned to that group's nodes.
    deployments = [o for o in render_target(loaded, "vllm")[0] if o["kind"] == "Deployment"]
    for deployment in deployments:
        selector = deployment["spec"]["template"]["spec"]["nodeSelector"]
        assert selector["aiplane.dev/node-group"] in {"1", "2"}


def test_auto_model_gets_the_planners_resource_and_node_selector(tmp_path: Path) -> None:
    loaded = _load(tmp_path)
    planned = {m.name: m for m in placement_for_stack(loaded).models}
    objects, warnings = render_target(loaded, "vllm")
    for name in ("small", "mid"):
        deployment = _one(objects, "Deployment", f"{name}-production")
        pod = deployment["spec"]["template"]["spec"]
        want = planned[name]
        assert pod["containers"][0]["resources"]["limits"] == {
            want.resource: str(want.resource_count)
        }
        assert want.resource.startswith("nvidia.com/mig-")
        assert pod["nodeSelector"] == dict(want.node_selector) == {"aiplane.dev/pool": "mig"}
        annotations = deployment["metadata"]["annotations"]
        assert annotations["aiplane.dev/placement"] == f"{want.slice} (planner)"
    assert not [w for w in warnings if "resources" in w.path]


def test_single_strategy_asks_for_nvidia_gpu(tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    text = (
        STACK.replace("NODES", "1")
        .replace("GPUS", "4")
        .replace("strategy: mixed", "strategy: single")
    )
    # One model only, so every slice on a GPU can be of one profile.
    path.write_text(text.split("    - name: mid")[0], encoding="utf-8")
    loaded = load_and_check(str(path))
    objects, _ = render_target(loaded, "vllm")
    limits = _one(objects, "Deployment", "small-production")["spec"]["template"]["spec"][
        "containers"
    ][0]["resources"]["limits"]
    assert limits == {"nvidia.com/gpu": "1"}


def test_unplaceable_auto_model_fails_render_at_its_resources(tmp_path: Path) -> None:
    too_big = """\
    - name: huge
      architecture: Llama-3.1-70B
      versions: [{name: v1, source: "hf://meta-llama/Llama-3.1-70B-Instruct"}]
      deployments: [{version: v1, stage: production}]
      serving: {maxModelLen: 8192}
      resources: auto
      pool: mig
"""
    with pytest.raises(StackError) as refused:
        _load(tmp_path, extra=too_big)  # validate refuses it; render still guards on its own
    assert any("0 of 1 replicas can be placed" in d.message for d in refused.value.diagnostics)
    loaded = _load(tmp_path, extra=too_big, placement=False)
    planned = next(m for m in placement_for_stack(loaded).models if m.name == "huge")
    assert planned.status == "unplaced" and planned.reason
    with pytest.raises(StackError) as caught:
        render_target(loaded, "vllm")
    (diag,) = caught.value.diagnostics
    assert diag.path == "spec.models[2].resources"
    assert diag.line == loaded.locate(("spec", "models", 2, "resources"))[0] > 0
    assert "huge" in diag.message and planned.reason in diag.message


def test_auto_model_placed_in_part_renders_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    text = STACK.replace("NODES", "1").replace("GPUS", "1").replace("replicas: 3", "replicas: 30")
    path.write_text(text.split("    - name: mid")[0], encoding="utf-8")
    with pytest.raises(StackError) as caught:
        load_and_check(str(path))  # validate refuses it; render alone places what it can
    assert any("short by 4 GPUs" in d.message for d in caught.value.diagnostics)
    loaded = load_and_check(str(path), placement=False)
    objects, warnings = render_target(loaded, "vllm")
    limits = _one(objects, "Deployment", "small-production")["spec"]["template"]["spec"][
        "containers"
    ][0]["resources"]["limits"]
    assert limits == {"nvidia.com/mig-1g.10gb": "1"}
    (warning,) = [w for w in warnings if w.path == "spec.models[0].resources"]
    assert "placed 7 of 30 replicas" in warning.message


def _modules_after_render(stack: str) -> set[str]:
    code = (
        "import sys\n"
        "from aiplane.render import render_stack\n"
        "from aiplane.check import load_and_check\n"
        f"render_stack(load_and_check({stack!r}))\n"
        "print('\\n'.join(sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_render_without_auto_does_not_load_the_planner() -> None:
    assert "highspy" not in _modules_after_render("stacks/laptop.yaml")
    # The check can fail: the production stack has auto pools and models, so it loads highspy.
    assert "highspy" in _modules_after_render("stacks/production.yaml")
