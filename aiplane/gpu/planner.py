"""Placement planner: which workloads get which GPUs, whole or as MIG slices, on which nodes.

Decision per workload (the reference tree): training and tensor-parallel gangs take whole GPUs
inside one node; inference and batch take the MIG slices (or whole GPUs) whose memory fits and
whose compute meets the latency SLO; with throughput profiles, enough segments to serve the
request rate within the latency SLO (ParvaGPU's problem).

Then the GPU count is minimised exactly by the pattern integer program in ``solver`` (HiGHS),
per group of pools that share workloads. When that finds nothing in the time limit, first-fit
decreasing (``greedy``) stands in. Every plan reports a proven lower bound and the gap.

When bounded pools are short, priorities decide: the highest priority level is admitted as fully
as the capacity allows, then the next, and so on; then the GPUs for the admitted set are
minimised. What is left is reported per workload (batch work as "queued").
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from aiplane.gpu import greedy
from aiplane.gpu.materialise import Unit, chosen_units, materialise
from aiplane.gpu.options import (
    DemandClass,
    Option,
    PoolModel,
    RateDemand,
    build_classes,
    build_pools,
    rate_options,
    unit_options,
)
from aiplane.gpu.outcomes import pool_outcomes, workload_outcomes
from aiplane.gpu.problem import PlacementPlan, PlacementProblem
from aiplane.gpu.solver import Admission, Solution, solve_ilp

Method = Literal["auto", "ilp", "greedy"]


@dataclass(frozen=True)
class _Component:
    """Pools linked by workloads that may use any of them, with those workloads' demand."""

    classes: tuple[DemandClass, ...]
    rates: tuple[RateDemand, ...]


def plan_placement(
    problem: PlacementProblem, *, time_limit_s: float = 10.0, method: Method = "auto"
) -> PlacementPlan:
    """Place every workload of ``problem``; deterministic for equal input."""
    started = time.perf_counter()
    _check_names(problem)
    workloads = problem.workloads
    pinned = {w.slice for w in workloads if w.slice}
    pools = build_pools(problem.pools, pinned)
    options = [
        rate_options(w, pools) if w.throughput_mode else unit_options(w, pools) for w in workloads
    ]
    classes = build_classes(workloads, options)
    rates = tuple(
        RateDemand(i, opts, float(w.request_rate or 0.0), w.priority)
        for i, (w, opts) in enumerate(zip(workloads, options, strict=True))
        if w.throughput_mode and opts
    )
    deadline = started + time_limit_s
    solutions = []
    for component in _components(pools, classes, rates):
        solutions.append(_solve_component(pools, component, deadline, method))
    units = [u for comp, sol in solutions for u in chosen_units(comp.classes, comp.rates, sol)]
    layouts = [layout for _c, sol in solutions for layout in sol.layouts]
    placed = materialise(workloads, pools, units, layouts)
    lower = sum(sol.lower_bound for _c, sol in solutions)
    used = sum(sol.gpus for _c, sol in solutions)
    methods = sorted({sol.status for _c, sol in solutions}) or ["ilp"]
    return PlacementPlan(
        pools=pool_outcomes(pools, placed.gpus, solutions),
        workloads=workload_outcomes(workloads, pools, options, placed),
        units=tuple(sorted(placed.units, key=lambda u: (u.pool, u.node, u.gpus, u.start or 0))),
        gpus=tuple(sorted(placed.gpus, key=lambda g: (g.pool, g.node, g.index))),
        gpus_used=used,
        lower_bound=min(lower, used),
        optimal=all(sol.optimal for _c, sol in solutions),
        method=_method_name(methods),
        solve_seconds=round(time.perf_counter() - started, 4),
    )


def _method_name(statuses: Sequence[str]) -> str:
    if "greedy" in statuses:
        return "greedy"
    return "ilp-time-limit" if "time-limit" in statuses else "ilp"


def _check_names(problem: PlacementProblem) -> None:
    for kind, names in (
        ("workload", [w.name for w in problem.workloads]),
        ("pool", [p.name for p in problem.pools]),
    ):
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ValueError(f"duplicate {kind} name '{name}'")
            seen.add(name)


def _components(
    pools: Sequence[PoolModel], classes: Sequence[DemandClass], rates: Sequence[RateDemand]
) -> list[_Component]:
    """Group demand by connected pools (union-find over the pools each demand may use)."""
    parent = list(range(len(pools)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    demands: list[tuple[Option, ...]] = [c.options for c in classes] + [r.options for r in rates]
    for opts in demands:
        first = root(opts[0].pool)
        for option in opts[1:]:
            parent[root(option.pool)] = first
    groups: dict[int, tuple[list[DemandClass], list[RateDemand]]] = {}
    for demand in classes:
        groups.setdefault(root(demand.options[0].pool), ([], []))[0].append(demand)
    for rate in rates:
        groups.setdefault(root(rate.options[0].pool), ([], []))[1].append(rate)
    return [_Component(tuple(c), tuple(r)) for _k, (c, r) in sorted(groups.items())]


def _solve_component(
    pools: Sequence[PoolModel],
    component: _Component,
    deadline: float,
    method: Method,
    *,
    may_admit: bool = True,
) -> tuple[_Component, Solution]:
    classes, rates = component.classes, component.rates
    bound = greedy.gpu_lower_bound(pools, classes, rates)
    solution = None
    if method != "greedy":
        try:
            solution, status = solve_ilp(pools, classes, rates, time_limit_s=_left(deadline))
        except ImportError:  # highspy missing: first fit still gives a plan and a bound
            solution, status = None, "no-solver"
        if solution is None and status == "infeasible" and may_admit:
            return _admit_by_priority(pools, component, deadline)
        if solution is not None and (solution.optimal or method == "ilp"):
            return component, replace(solution, lower_bound=max(solution.lower_bound, bound))
    fallback = greedy.solve_greedy(pools, classes, rates)
    if solution is not None and _rank(solution) <= _rank(fallback):
        return component, replace(solution, lower_bound=max(solution.lower_bound, bound))
    admitted = _admitted_component(component, fallback)
    lower = greedy.gpu_lower_bound(pools, admitted.classes, admitted.rates)
    return component, replace(fallback, lower_bound=lower)


def _rank(solution: Solution) -> tuple[int, int]:
    """Better = more units placed, then fewer GPUs."""
    placed = sum(solution.units.values()) + len(solution.admitted_rates)
    return (-placed, solution.gpus)


def _left(deadline: float) -> float:
    return max(deadline - time.perf_counter(), 0.05)


def _admit_by_priority(
    pools: Sequence[PoolModel], component: _Component, deadline: float
) -> tuple[_Component, Solution]:
    """Shortage: maximise admitted units level by level, then minimise GPUs for them."""
    classes, rates = component.classes, component.rates
    levels = sorted({c.priority for c in classes} | {r.priority for r in rates}, reverse=True)
    minimum: dict[int, int] = {}
    served: frozenset[int] = frozenset()
    for level in levels:
        admission = Admission(
            minimum=dict(minimum),
            maximise=frozenset(i for i, c in enumerate(classes) if c.priority == level),
            rate_minimum=served,
            rate_maximise=frozenset(i for i, r in enumerate(rates) if r.priority == level),
        )
        solution, _status = solve_ilp(
            pools, classes, rates, time_limit_s=_left(deadline), admission=admission
        )
        if solution is None:  # out of time: let first fit decide the rest
            fallback = greedy.solve_greedy(pools, classes, rates)
            return component, replace(fallback, lower_bound=0)
        for ci in admission.maximise:
            minimum[ci] = sum(n for (c, _o), n in solution.units.items() if c == ci)
        served = served | (solution.admitted_rates & admission.rate_maximise)
    admitted = _Component(
        tuple(replace(c, members=c.members[: minimum.get(i, 0)]) for i, c in enumerate(classes)),
        tuple(r for i, r in enumerate(rates) if i in served),
    )
    # The returned component is the admitted one: its unit counts line up with the solution.
    return _solve_component(pools, _drop_empty(admitted), deadline, "auto", may_admit=False)


def _drop_empty(component: _Component) -> _Component:
    return _Component(tuple(c for c in component.classes if c.count), component.rates)


def _admitted_component(component: _Component, solution: Solution) -> _Component:
    """The part of the demand a (greedy) solution actually placed."""
    classes = []
    for ci, demand in enumerate(component.classes):
        placed = sum(n for (c, _o), n in solution.units.items() if c == ci)
        classes.append(replace(demand, members=demand.members[:placed]))
    rates = tuple(r for i, r in enumerate(component.rates) if i in solution.admitted_rates)
    return _drop_empty(_Component(tuple(classes), rates))


__all__ = ["Unit", "plan_placement"]
