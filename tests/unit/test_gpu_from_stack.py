"""Placement of a stack (``aiplane explain``): pools and models mapped onto the planner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiplane.check import load_and_check
from aiplane.commands.explain import explain_main
from aiplane.gpu.from_stack import placement_for_stack
from aiplane.stack.loader import load_stack

STACK = """\
apiVersion: aiplane.dev/v1alpha1
kind: Stack
metadata: {name: demo}
spec:
  priorities:
    classes:
      - {name: high, value: 1000}
      - {name: low, value: 10}
  gpuPools:
    - {name: mig, gpu: H100-80GB, nodes: 1, gpusPerNode: 2, mig: auto}
    - name: fixed
      gpu: A100-80GB
      nodes: 1
      gpusPerNode: 4
      mig:
        policy: explicit
        devices:
          - {gpus: [0, 1], profiles: {3g.40gb: 2}}
  models:
    - name: small
      architecture: Llama-3.2-1B
      versions: [{name: v1, source: "hf://meta-llama/Llama-3.2-1B-Instruct"}]
      deployments: [{version: v1, stage: production}]
      serving: {maxModelLen: 4096}
      resources: auto
      pool: mig
      priority: high
      replicas: 3
    - name: mid
      architecture: Llama-3.1-8B
      versions: [{name: v1, source: "hf://meta-llama/Llama-3.1-8B-Instruct"}]
      deployments: [{version: v1, stage: production}]
      serving: {maxModelLen: 8192}
      resources: auto
      pool: mig
      priority: low
      replicas: 2
    - name: pinned
      architecture: Qwen2.5-7B
      versions: [{name: v1, source: "hf://Qwen/Qwen2.5-7B-Instruct"}]
      deployments: [{version: v1, stage: production}]
      serving: {maxModelLen: 8192}
      resources: {migProfile: 3g.40gb}
      pool: fixed
      replicas: PINNED
    - name: tp
      architecture: Llama-3.1-70B
      versions: [{name: v1, source: "hf://meta-llama/Llama-3.1-70B-Instruct"}]
      deployments: [{version: v1, stage: production}]
      serving: {maxModelLen: 8192, tensorParallelSize: 2, quantization: fp8}
      resources: {gpus: 2}
      pool: fixed
"""


def _write(tmp_path: Path, pinned: int = 3) -> Path:
    path = tmp_path / "stack.yaml"
    path.write_text(STACK.replace("PINNED", str(pinned)), encoding="utf-8")
    return path


def test_stack_placement_per_pool_and_model(tmp_path: Path) -> None:
    placement = placement_for_stack(load_and_check(str(_write(tmp_path))))
    pools = {p.name: p for p in placement.pools}
    # 3g.40gb ×2 fill all eight memory slots, so the three 1g.10gb need a second GPU.
    assert pools["mig"].gpus_used == 2 and pools["mig"].lower_bound == 2
    assert pools["fixed"].gpus_used == 4  # two explicit 3g.40gb ×2 GPUs + the 2-GPU gang
    models = {m.name: m for m in placement.models}
    small, mid = models["small"], models["mid"]
    assert (small.decided_by, small.slice, small.resource) == (
        "planner",
        "1g.10gb",
        "nvidia.com/mig-1g.10gb",
    )
    assert small.replicas_placed == 3 and small.headroom_gib is not None
    assert small.headroom_gib >= 0
    assert mid.slice in {"3g.40gb", "4g.40gb"} and mid.headroom_gib is not None
    assert mid.memory_gib == pytest.approx(20.95, abs=0.1)
    pinned = models["pinned"]
    assert (pinned.decided_by, pinned.slice, pinned.replicas_placed) == ("stack", "3g.40gb", 3)
    tp = models["tp"]
    assert (tp.slice, tp.resource, tp.resource_count) == ("gpu", "nvidia.com/gpu", 2)
    gang = [g for g in pools["fixed"].gpus if g.tenants == ("tp/v1/production#0",)]
    assert sorted(g.index for g in gang) == [2, 3]  # the GPUs the explicit layout leaves whole
    assert placement.optimal and placement.gap == 0


def test_shortage_follows_priority_classes(tmp_path: Path) -> None:
    # validate refuses this stack (pool over-subscribed); the planner still says who is short.
    placement = placement_for_stack(load_stack(str(_write(tmp_path, pinned=5))))
    pinned = next(m for m in placement.models if m.name == "pinned")
    assert pinned.status == "partial" and pinned.replicas_placed == 4
    assert "pool 'fixed' is full" in pinned.reason


def test_explain_prints_tables_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(_write(tmp_path))
    assert explain_main(path, as_json=False) == 0
    text = capsys.readouterr().out
    assert "GPU placement: 6 GPUs used, lower bound 6" in text
    assert "1g.10gb" in text and "Running HiGHS" not in text
    assert explain_main(path, as_json=True) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["gpusUsed"] == 6 and data["gap"] == 0
    assert {m["name"] for m in data["models"]} == {"small", "mid", "pinned", "tp"}
    assert explain_main(str(_write(tmp_path, pinned=5)), as_json=True) == 1


def test_example_stacks_place(capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(__file__).resolve().parents[2] / "stacks"
    for path in sorted(root.glob("*.yaml")):
        placement = placement_for_stack(load_and_check(str(path)))
        assert placement.lower_bound <= placement.gpus_used
        assert all(m.status == "placed" for m in placement.models if m.kind == "model")


def test_node_layouts_group_nodes_for_mig_parted(tmp_path: Path) -> None:
    placement = placement_for_stack(load_and_check(str(_write(tmp_path))))
    fixed = next(p for p in placement.pools if p.name == "fixed")
    assert fixed.node_layouts() == (((0,), ((0, (("3g.40gb", 2),)), (1, (("3g.40gb", 2),)))),)
    mig = next(p for p in placement.pools if p.name == "mig")
    ((nodes, layout),) = mig.node_layouts()
    assert nodes == (0,) and [index for index, _counts in layout] == [0, 1]


def test_validate_refuses_what_explain_shows_short(tmp_path: Path) -> None:
    from aiplane.errors import StackError

    path = str(_write(tmp_path, pinned=5))
    with pytest.raises(StackError) as caught:
        load_and_check(path)
    [error] = caught.value.diagnostics
    assert "pool fixed is over-subscribed" in error.message and "short by 1 GPUs" in error.message
    assert explain_main(path, as_json=True) == 1
