"""GPU capacity in plans: per-pool figures from the planner, deltas, and the JSON round trip."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from aiplane.check import load_and_check
from aiplane.gpu.capacity import Capacity, PoolCapacity, capacity_lines, capacity_of
from aiplane.plan.model import Plan
from aiplane.stack.loader import parse_stack

ROOT = Path(__file__).parents[2]


def test_seed_capacity_matches_the_planner() -> None:
    capacity = capacity_of(load_and_check(str(ROOT / "stacks" / "seed.yaml")))
    assert capacity is not None
    pools = {p.pool: p for p in capacity.pools}
    # Two llama-70b stages at tensor-parallel 4 plus the 4-GPU training step on the H100 pool.
    assert pools["h100"].gpus_used == 12 and pools["h100"].gpus_total == 16
    assert pools["h100"].lower_bound == 12
    assert pools["h100"].cost_per_hour == round(12 * 6.88, 2)
    assert capacity.short == ()


def test_short_pool_is_reported_per_workload() -> None:
    raw = b"""apiVersion: aiplane.dev/v1alpha1
kind: Stack
metadata: {name: t}
spec:
  gpuPools: [{name: p, gpu: H100-80GB, nodes: 1, gpusPerNode: 2}]
  models:
    - name: m
      architecture: Llama-3.1-8B
      versions: [{name: v1, source: hf://a/b}]
      deployments: [{version: v1, stage: production}]
      replicas: 3
      pool: p
"""
    capacity = capacity_of(parse_stack(raw, "t.yaml"))
    assert capacity is not None
    assert capacity.pools[0].gpus_used == 2
    assert len(capacity.short) == 1 and capacity.short[0].startswith("short: model m v1: 2 of 3")


def test_lines_show_the_delta_against_before() -> None:
    after = Capacity((PoolCapacity("h100", "H100-80GB", 12, 16, 12, 1.0, 82.56),))
    before = Capacity(
        (
            PoolCapacity("h100", "H100-80GB", 8, 16, 8, 1.0, 55.04),
            PoolCapacity("a100", "A100-80GB", 1, 4, 1, 1.0, None),
        )
    )
    lines = capacity_lines(after, before)
    assert lines[0].startswith("pool h100: 8 -> 12 of 16 H100-80GB GPUs (+4)")
    assert lines[0].endswith("$82.56/h (+27.52/h)")
    assert lines[1] == "pool a100: removed (was 1 GPUs)"


def test_capacity_survives_the_plan_json_round_trip() -> None:
    capacity = Capacity((PoolCapacity("p", "L4-24GB", 1, None, 1, 0.5, None),), ("short: x",))
    plan = Plan(
        stack="s", stack_file="s.yaml", stack_digest="d", mode="offline", target="nothing",
        state_id="id", plan_id="pid", created="now",
    )  # fmt: skip
    plan = replace(plan, capacity=capacity, capacity_before=capacity)
    again = Plan.loads(plan.dumps())
    assert again.capacity == capacity and again.capacity_before == capacity
