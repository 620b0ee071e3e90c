"""Placement feasibility in ``validate``: the cheap arguments decide when they can, the planner
only when they cannot (validate stays fast), and the gang count is right."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import aiplane.gpu.from_stack as from_stack
from aiplane.check import load_and_check
from aiplane.errors import StackError
from aiplane.gpu.feasibility import _gangs_fit

REPO = Path(__file__).resolve().parents[2]
TIGHT_AUTO = """\
apiVersion: aiplane.dev/v1alpha1
kind: Stack
metadata: {name: t}
spec:
  gpuPools:
    - {name: a, gpu: A100-80GB, gpusPerNode: 1, nodes: 1, mig: auto}
  models:
    - name: m
      architecture: Qwen2.5-0.5B
      serving: {maxModelLen: 4096}
      versions: [{name: v1, source: hf://a/b}]
      deployments: [{version: v1, stage: production}]
      resources: auto
      replicas: REPLICAS
      pool: a
"""


@pytest.fixture
def solves(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = from_stack.plan_placement

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(from_stack, "plan_placement", counting)
    return calls


@pytest.mark.parametrize("name", ["seed", "laptop", "production"])
def test_example_stacks_validate_without_the_solver(name: str, solves: list[int]) -> None:
    load_and_check(str(REPO / "stacks" / f"{name}.yaml"))
    assert solves == []


def test_a_tight_auto_pool_asks_the_solver(tmp_path: Path, solves: list[int]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(TIGHT_AUTO.replace("REPLICAS", "3"))  # 3 slices on one GPU: count cannot tell
    load_and_check(str(path))
    assert solves == [1]


def test_an_impossible_auto_pool_is_short_without_the_solver(
    tmp_path: Path, solves: list[int]
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(TIGHT_AUTO.replace("REPLICAS", "8"))  # 8 x 1g slices > 7 compute slices
    with pytest.raises(StackError) as caught:
        load_and_check(str(path))
    assert "short by 1 GPUs" in caught.value.diagnostics[0].message
    assert solves == []


@pytest.mark.parametrize(
    ("gangs", "per_node", "nodes", "fits"),
    [
        ({4: 3}, 8, 2, True),
        ({4: 5}, 8, 2, False),
        ({8: 1, 1: 8}, 8, 2, True),
        ({8: 1, 1: 9}, 8, 2, False),
        ({3: 4}, 8, 2, True),  # two per node, 2 GPUs left over on each
        ({3: 5}, 8, 2, False),
        ({1: 16}, 8, 2, True),
        ({5: 1, 3: 1, 2: 2}, 8, 2, True),
    ],
)
def test_gang_count(gangs: dict[int, int], per_node: int, nodes: int, fits: bool) -> None:
    assert _gangs_fit(gangs, per_node, nodes) is fits
