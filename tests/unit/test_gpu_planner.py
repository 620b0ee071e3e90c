"""Placement planner: exact GPU minimisation, rules, gangs, priorities, ParvaGPU mode."""

from __future__ import annotations

import importlib.util
import os
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiplane.gpu.catalog import get_gpu
from aiplane.gpu.layouts import check_layout
from aiplane.gpu.planner import plan_placement
from aiplane.gpu.problem import (
    WHOLE_GPU,
    PlacementPlan,
    PlacementProblem,
    Pool,
    ThroughputProfile,
    Workload,
)

H100 = get_gpu("H100-80GB")
assert H100 is not None


def _problem(*workloads: Workload, pool: Pool | None = None) -> PlacementProblem:
    return PlacementProblem(workloads, (pool or Pool("p", "H100-80GB"),))


def _assert_sound(problem: PlacementProblem, plan: PlacementPlan) -> None:
    """Every GPU layout is valid, every unit fits its slice, bounds are consistent."""
    pools = {p.name: p for p in problem.pools}
    workloads = {w.name: w for w in problem.workloads}
    for gpu in plan.gpus:
        spec = get_gpu(pools[gpu.pool].gpu)
        assert spec is not None
        if gpu.layout:
            assert check_layout(spec, Counter(n for n, _s in gpu.layout)) is None
            slots = [
                s
                for n, start in gpu.layout
                for s in range(start, start + spec.mig_profiles[n].memory_slices)
            ]
            assert len(slots) == len(set(slots))
            assert all(start in spec.mig_profiles[n].starts for n, start in gpu.layout)
    for unit in plan.units:
        workload = workloads[unit.workload]
        spec = get_gpu(pools[unit.pool].gpu)
        assert spec is not None
        if unit.slice == WHOLE_GPU:
            assert spec.memory_gib >= workload.memory_gib
            assert len(unit.gpus) == workload.gpus
        else:
            profile = spec.mig_profiles[unit.slice]
            assert profile.memory_gib >= workload.memory_gib
            assert profile.compute_slices >= workload.min_compute_slices
    keys = [(u.pool, u.node, g, u.start) for u in plan.units for g in u.gpus]
    assert len(keys) == len(set(keys)), "two units share an instance"
    assert plan.lower_bound <= plan.gpus_used
    assert plan.gpus_used == len(plan.gpus)
    assert sum(p.gpus_used for p in plan.pools) == plan.gpus_used


def test_seven_small_models_share_one_gpu() -> None:
    problem = _problem(Workload("small", memory_gib=9.0, replicas=7))
    plan = plan_placement(problem)
    _assert_sound(problem, plan)
    assert plan.gpus_used == 1 and plan.lower_bound == 1 and plan.optimal
    assert plan.workloads[0].slices == (("1g.10gb", 7),)
    assert plan.pools[0].layouts == (("1g.10gb ×7", 1),)


def test_exact_beats_first_fit_decreasing() -> None:
    # FFD packs 3g+3g, then 2g+2g+1g×3 and opens a third GPU for the last 1g; the optimum is
    # 2 × (3g + 2g + 1g×2).
    problem = _problem(
        Workload("three", memory_gib=39.0, min_compute_slices=3, replicas=2),
        Workload("two", memory_gib=19.0, min_compute_slices=2, replicas=2),
        Workload("one", memory_gib=9.0, replicas=4),
    )
    exact = plan_placement(problem)
    ffd = plan_placement(problem, method="greedy")
    _assert_sound(problem, exact)
    _assert_sound(problem, ffd)
    assert (exact.gpus_used, exact.lower_bound, exact.optimal) == (2, 2, True)
    assert ffd.gpus_used == 3 and ffd.method == "greedy" and ffd.lower_bound == 2


def test_slo_compute_and_memory_pick_the_slice() -> None:
    problem = _problem(
        Workload("fast", memory_gib=9.0, min_compute_slices=4),
        Workload("roomy", memory_gib=30.0),
        Workload("huge", memory_gib=70.0),
    )
    plan = plan_placement(problem)
    _assert_sound(problem, plan)
    slices = {w.name: w.slices for w in plan.workloads}
    assert slices["fast"] == (("4g.40gb", 1),)
    assert slices["roomy"] == (("3g.40gb", 1),)
    assert slices["huge"] == ((WHOLE_GPU, 1),)
    assert plan.gpus_used == 2


def test_training_and_tensor_parallel_gangs_stay_in_one_node() -> None:
    problem = _problem(
        Workload("train", kind="training", memory_gib=10.0, gpus=4, replicas=2),
        Workload("serve", memory_gib=60.0, gpus=2),
        Workload("tiny", kind="training", memory_gib=5.0),
        pool=Pool("p", "H100-80GB", nodes=2, gpus_per_node=8),
    )
    plan = plan_placement(problem)
    _assert_sound(problem, plan)
    gangs = [u for u in plan.units if len(u.gpus) > 1]
    assert sorted(len(u.gpus) for u in gangs) == [2, 4, 4]
    assert all(len(set(u.gpus)) == len(u.gpus) for u in gangs)
    tiny = next(u for u in plan.units if u.workload == "tiny")
    assert tiny.slice == WHOLE_GPU  # training never gets a MIG slice
    assert plan.gpus_used == 11


def test_gang_larger_than_a_node_is_reported() -> None:
    problem = _problem(
        Workload("wide", memory_gib=70.0, gpus=8), pool=Pool("p", "H100-80GB", gpus_per_node=4)
    )
    plan = plan_placement(problem)
    outcome = plan.workload("wide")
    assert outcome is not None and outcome.status == "unplaced"
    assert "needs 8 GPUs in one node, nodes have 4" in outcome.reason


def test_priorities_decide_under_a_shortage() -> None:
    problem = _problem(
        Workload("small", memory_gib=9.0, replicas=10, priority=2),
        Workload("big", memory_gib=60.0, priority=1),
        Workload("job", kind="batch", memory_gib=30.0, replicas=2),
        pool=Pool("p", "H100-80GB", nodes=1, gpus_per_node=2),
    )
    for method in ("auto", "greedy"):
        plan = plan_placement(problem, method=method)  # type: ignore[arg-type]
        _assert_sound(problem, plan)
        status = {w.name: (w.status, w.placed) for w in plan.workloads}
        assert status == {"small": ("placed", 10), "big": ("unplaced", 0), "job": ("queued", 1)}
        big = plan.workload("big")
        assert big is not None and "pool 'p' is full" in big.reason
        assert plan.gpus_used == 2


def test_higher_priority_takes_the_last_gpu() -> None:
    problem = _problem(
        Workload("low", memory_gib=70.0, priority=0),
        Workload("high", memory_gib=70.0, priority=5),
        pool=Pool("p", "H100-80GB", nodes=1, gpus_per_node=1),
    )
    plan = plan_placement(problem)
    assert [(w.name, w.status) for w in plan.workloads] == [("low", "unplaced"), ("high", "placed")]


def test_memory_that_fits_nowhere_is_explained() -> None:
    problem = _problem(Workload("giant", memory_gib=500.0))
    plan = plan_placement(problem)
    outcome = plan.workload("giant")
    assert outcome is not None and outcome.status == "unplaced"
    assert "needs 500.0 GiB per GPU, largest slice has 79.2" in outcome.reason
    assert plan.gpus_used == 0


def test_pool_policies_and_pinned_slices() -> None:
    pools = (
        Pool("fixed", "A100-80GB", mig="fixed", fixed_layout={"3g.40gb": 2}),
        Pool("plain", "L40S", mig="auto"),
        Pool("off", "H100-80GB", mig="disabled"),
    )
    workloads = (
        Workload("a", memory_gib=30.0, pools=("fixed",), replicas=3),
        Workload("b", memory_gib=30.0, pools=("plain",)),
        Workload("c", memory_gib=5.0, pools=("off",)),
        Workload("d", memory_gib=5.0, pools=("fixed", "off"), slice="3g.40gb"),
    )
    problem = PlacementProblem(workloads, pools)
    plan = plan_placement(problem)
    _assert_sound(problem, plan)
    per_pool = {p.name: (p.gpus_used, p.layouts) for p in plan.pools}
    assert per_pool["fixed"] == (2, (("3g.40gb ×2", 2),))
    assert per_pool["plain"] == (1, (("whole GPU", 1),))
    assert per_pool["off"] == (1, (("whole GPU", 1),))
    assert plan.optimal


def test_unknown_pool_gpu_and_duplicate_names_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown GPU 'T4'"):
        plan_placement(PlacementProblem((), (Pool("p", "T4"),)))
    with pytest.raises(ValueError, match="duplicate workload name 'x'"):
        plan_placement(_problem(Workload("x"), Workload("x")))


def test_replicas_spread_over_gpus() -> None:
    problem = _problem(
        Workload("a", memory_gib=30.0, replicas=2), Workload("b", memory_gib=30.0, replicas=2)
    )
    plan = plan_placement(problem)
    gpus_of = {w: {u.gpus for u in plan.units if u.workload == w} for w in ("a", "b")}
    assert all(len(g) == 2 for g in gpus_of.values())


def test_throughput_mode_meets_the_rate_with_fewest_gpus() -> None:
    profiles = (
        ThroughputProfile("1g.10gb", 8, 1, 40.0, 20.0),
        ThroughputProfile("3g.40gb", 16, 2, 150.0, 30.0),
        ThroughputProfile("7g.80gb", 32, 3, 380.0, 90.0),  # too slow for the SLO
    )
    problem = _problem(
        Workload("vision", profiles=profiles, request_rate=300.0, latency_slo_ms=50.0),
        pool=Pool("p", "A100-80GB"),
    )
    plan = plan_placement(problem)
    _assert_sound(problem, plan)
    outcome = plan.workload("vision")
    assert outcome is not None and outcome.status == "placed"
    assert outcome.throughput_rps is not None and outcome.throughput_rps >= 300.0
    assert "7g.80gb" not in dict(outcome.slices)
    assert plan.gpus_used == 1 and plan.optimal  # 3g.40gb ×2 serves exactly 300 req/s
    faster = _problem(
        Workload("vision", profiles=profiles, request_rate=320.0, latency_slo_ms=50.0),
        pool=Pool("p", "A100-80GB"),
    )
    # One GPU serves at most 310 (3g + 4 × 1g), so 320 needs a second GPU.
    assert plan_placement(faster).gpus_used == 2


def _bench() -> ModuleType | None:
    path = Path(__file__).resolve().parents[2] / "bench" / "placement.py"
    spec = importlib.util.spec_from_file_location("placement_bench", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("scenario", "optimum"), [(1, 2), (2, 3), (5, 12)])
def test_parvagpu_scenarios_reach_the_exact_optimum(scenario: int, optimum: int) -> None:
    bench = _bench()
    if bench is None or not bench.PARVA.exists():
        if os.environ.get("CI"):
            pytest.fail("ParvaGPU artifact data missing: CI must provide ../shared")
        pytest.skip("ParvaGPU artifact data not available")
    problem = bench.parva_problem(scenario)
    plan = plan_placement(problem, time_limit_s=30)
    _assert_sound(problem, plan)
    assert all(w.status == "placed" for w in plan.workloads)
    assert (plan.gpus_used, plan.lower_bound) == (optimum, optimum)


def test_synthetic_mix_is_optimal_and_deterministic() -> None:
    bench = _bench()
    assert bench is not None
    problem = bench.synthetic_problem(200, 1)
    first = plan_placement(problem)
    second = plan_placement(problem)
    _assert_sound(problem, first)
    assert first.optimal and first.gap == 0
    assert first.gpus == second.gpus and first.units == second.units
    assert first.workloads == second.workloads
    ffd = plan_placement(problem, method="greedy")
    assert ffd.gpus_used >= first.gpus_used >= ffd.lower_bound


_workload = st.builds(
    Workload,
    name=st.just(""),
    kind=st.sampled_from(["inference", "training", "batch"]),
    memory_gib=st.floats(0.5, 150.0),
    min_compute_slices=st.integers(1, 7),
    replicas=st.integers(1, 4),
    gpus=st.sampled_from([1, 1, 1, 2, 4]),
    priority=st.integers(0, 2),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    workloads=st.lists(_workload, min_size=1, max_size=8),
    nodes=st.sampled_from([None, 1, 2]),
)
def test_random_plans_are_sound(workloads: list[Workload], nodes: int | None) -> None:
    named = tuple(Workload(**{**w.__dict__, "name": f"w{i}"}) for i, w in enumerate(workloads))
    problem = _problem(*named, pool=Pool("p", "H100-80GB", nodes=nodes, gpus_per_node=4))
    plan = plan_placement(problem)
    _assert_sound(problem, plan)
    ffd = plan_placement(problem, method="greedy")
    _assert_sound(problem, ffd)
    if nodes is None:
        assert all(w.status == "placed" for w in plan.workloads if w.reason == "")
        placed = sum(w.placed for w in plan.workloads)
        assert placed == sum(w.placed for w in ffd.workloads)
        assert plan.optimal and plan.gpus_used <= ffd.gpus_used


def test_fixed_per_gpu_layouts_bound_each_layout() -> None:
    pool = Pool(
        "mixed",
        "A100-80GB",
        nodes=1,
        gpus_per_node=4,
        mig="fixed",
        gpu_layouts=({"3g.40gb": 2}, {"3g.40gb": 2}, {}, {}),
    )
    problem = _problem(
        Workload("mid", memory_gib=30.0, replicas=5),
        Workload("pair", memory_gib=60.0, gpus=2, priority=1),
        pool=pool,
    )
    for method in ("auto", "greedy"):
        plan = plan_placement(problem, method=method)  # type: ignore[arg-type]
        _assert_sound(problem, plan)
        mid = plan.workload("mid")
        assert mid is not None and (mid.status, mid.placed) == ("partial", 4)
        pair = next(u for u in plan.units if u.workload == "pair")
        assert pair.gpus == (2, 3)
        assert {g.index for g in plan.gpus if g.layout} == {0, 1}


def test_invalid_fixed_layout_is_rejected() -> None:
    pool = Pool("bad", "H100-80GB", mig="fixed", fixed_layout={"4g.40gb": 2})
    with pytest.raises(ValueError, match=r"pool 'bad': 4g\.40gb ×2: at most 1 per H100-80GB"):
        plan_placement(_problem(Workload("x"), pool=pool))


def test_workloads_free_to_choose_pools_are_solved_jointly() -> None:
    pools = (Pool("big", "H100-80GB", nodes=1, gpus_per_node=1), Pool("cheap", "L4"))
    workloads = (
        Workload("a", memory_gib=9.0, replicas=7),
        Workload("b", memory_gib=30.0, replicas=2),
        Workload("c", memory_gib=19.0, pools=("cheap",)),
    )
    problem = PlacementProblem(workloads, pools)
    plan = plan_placement(problem)
    _assert_sound(problem, plan)
    assert all(w.status == "placed" for w in plan.workloads)
    # The H100 takes at most one GPU's worth; the rest goes to L4s (one model per L4).
    assert plan.optimal and plan.lower_bound == plan.gpus_used
    assert plan.pools[0].gpus_used == 1


def test_zero_replicas_and_empty_problem() -> None:
    plan = plan_placement(_problem(Workload("none", memory_gib=5.0, replicas=0)))
    assert plan.gpus_used == 0 and plan.lower_bound == 0
    none = plan.workload("none")
    assert none is not None and none.status == "placed" and none.placed == 0


def test_falls_back_to_first_fit_when_the_solver_finds_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import aiplane.gpu.planner as planner

    def no_solution(*_args: object, **_kwargs: object) -> tuple[None, str]:
        return None, "no-solution"

    monkeypatch.setattr(planner, "solve_ilp", no_solution)
    problem = _problem(
        Workload("three", memory_gib=39.0, min_compute_slices=3, replicas=2),
        Workload("two", memory_gib=19.0, min_compute_slices=2, replicas=2),
        Workload("one", memory_gib=9.0, replicas=4),
    )
    plan = plan_placement(problem)
    _assert_sound(problem, plan)
    assert (plan.method, plan.optimal, plan.gpus_used, plan.lower_bound) == ("greedy", False, 3, 2)
    assert plan.gap == 1


def test_missing_solver_still_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    import aiplane.gpu.planner as planner

    def missing(*_args: object, **_kwargs: object) -> tuple[None, str]:
        raise ImportError("no highspy")

    monkeypatch.setattr(planner, "solve_ilp", missing)
    plan = plan_placement(_problem(Workload("a", memory_gib=9.0, replicas=3)))
    assert plan.method == "greedy" and plan.gpus_used == 1 and plan.lower_bound == 1


def test_smallest_slice() -> None:
    from aiplane.gpu.options import smallest_slice

    assert H100 is not None
    assert smallest_slice(H100, 9.0) == "1g.10gb"
    assert smallest_slice(H100, 15.0) == "1g.20gb"
    assert smallest_slice(H100, 15.0, 2) == "2g.20gb"
    assert smallest_slice(H100, 30.0, 4) == "4g.40gb"
    assert smallest_slice(H100, 60.0) == WHOLE_GPU
    assert smallest_slice(H100, 90.0) is None
    l4 = get_gpu("L4")
    assert l4 is not None and smallest_slice(l4, 10.0) == WHOLE_GPU


_POOLS = (
    Pool("h100", "H100-80GB", nodes=None, gpus_per_node=4),
    Pool("a100", "A100-40GB", nodes=1, gpus_per_node=4),
    Pool("a30", "A30", nodes=2, gpus_per_node=2),
    Pool("l4", "L4", nodes=2, gpus_per_node=2),
    Pool(
        "fixed",
        "A100-80GB",
        nodes=1,
        gpus_per_node=4,
        mig="fixed",
        gpu_layouts=({"3g.40gb": 2}, {"1g.10gb": 7}, {"4g.40gb": 1, "3g.40gb": 1}, {}),
    ),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    workloads=st.lists(_workload, min_size=1, max_size=8),
    pool_sets=st.lists(
        st.lists(st.sampled_from([p.name for p in _POOLS]), max_size=2, unique=True),
        min_size=8,
        max_size=8,
    ),
    method=st.sampled_from(["auto", "greedy"]),
)
def test_random_multi_pool_plans_are_sound(
    workloads: list[Workload], pool_sets: list[list[str]], method: str
) -> None:
    named = tuple(
        Workload(**{**w.__dict__, "name": f"w{i}", "pools": tuple(pool_sets[i])})
        for i, w in enumerate(workloads)
    )
    problem = PlacementProblem(named, _POOLS)
    plan = plan_placement(problem, method=method)  # type: ignore[arg-type]
    _assert_sound(problem, plan)
    for pool in plan.pools:
        capacity = next(p.capacity for p in _POOLS if p.name == pool.name)
        assert capacity is None or pool.gpus_used <= capacity
        assert pool.lower_bound <= pool.gpus_used
    fixed = [g for g in plan.gpus if g.pool == "fixed"]
    expected = {0: {"3g.40gb": 2}, 1: {"1g.10gb": 7}, 2: {"4g.40gb": 1, "3g.40gb": 1}, 3: {}}
    for gpu in fixed:
        assert dict(Counter(n for n, _s in gpu.layout)) == expected[gpu.index]
