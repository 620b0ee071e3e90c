"""Summaries of a placement: per pool (GPUs, bound, layouts, utilisation) and per workload
(placed replicas, slices, and why anything is missing)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from aiplane.gpu.layouts import describe_layout
from aiplane.gpu.materialise import Materialised
from aiplane.gpu.options import DemandClass, Option, PoolModel, RateDemand, no_option_reason
from aiplane.gpu.problem import (
    WHOLE_GPU,
    GpuAssignment,
    PoolOutcome,
    Status,
    UnitPlacement,
    Workload,
    WorkloadOutcome,
)
from aiplane.gpu.solver import Solution


class _Component(Protocol):
    @property
    def classes(self) -> tuple[DemandClass, ...]: ...

    @property
    def rates(self) -> tuple[RateDemand, ...]: ...


def pool_outcomes(
    pools: Sequence[PoolModel],
    gpus: Sequence[GpuAssignment],
    solutions: Sequence[tuple[_Component, Solution]],
) -> tuple[PoolOutcome, ...]:
    by_pool: dict[str, list[GpuAssignment]] = {}
    for gpu in gpus:
        by_pool.setdefault(gpu.pool, []).append(gpu)
    exact = _single_pool_bounds(solutions)
    out = []
    for pool in pools:
        mine = by_pool.get(pool.pool.name, [])
        bound = exact[pool.index] if pool.index in exact else _share_bound(pool, mine)
        out.append(
            PoolOutcome(
                name=pool.pool.name,
                gpu=pool.gpu.name,
                capacity=pool.pool.capacity,
                gpus_used=len(mine),
                lower_bound=min(bound, len(mine)),
                layouts=_layout_counts(pool, mine),
                compute_utilisation=_utilisation(pool, mine),
            )
        )
    return tuple(out)


def _pools_of(component: _Component) -> set[int]:
    options: list[Option] = [o for c in component.classes for o in c.options]
    options += [o for r in component.rates for o in r.options]
    return {o.pool for o in options}


def _single_pool_bounds(solutions: Sequence[tuple[_Component, Solution]]) -> dict[int, int]:
    """A component that uses one pool has the solver's bound as that pool's bound."""
    out = {}
    for component, solution in solutions:
        pools = _pools_of(component)
        if len(pools) == 1:
            out[pools.pop()] = solution.lower_bound
    return out


def _instance_share(pool: PoolModel, name: str) -> tuple[float, float]:
    compute, memory, _gib = pool.slices.get(name, (pool.compute_slots, pool.memory_slots, 0.0))
    return compute / pool.compute_slots, memory / pool.memory_slots


def _share_bound(pool: PoolModel, gpus: Sequence[GpuAssignment]) -> int:
    """ceil(max(compute share, memory share)) of the occupied instances."""
    compute = memory = 0.0
    for gpu in gpus:
        if gpu.layout:
            names = [n for (n, _s), t in zip(gpu.layout, gpu.tenants, strict=True) if t]
        else:
            names = [WHOLE_GPU] if any(gpu.tenants) else []
        for name in names:
            c, m = _instance_share(pool, name)
            compute, memory = compute + c, memory + m
    return math.ceil(max(compute, memory) - 1e-9)


def _layout_counts(pool: PoolModel, gpus: Sequence[GpuAssignment]) -> tuple[tuple[str, int], ...]:
    counts: Counter[str] = Counter()
    for gpu in gpus:
        if not gpu.layout:
            counts["whole GPU"] += 1
        else:
            counts[describe_layout(pool.gpu, Counter(n for n, _s in gpu.layout))] += 1
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _utilisation(pool: PoolModel, gpus: Sequence[GpuAssignment]) -> float:
    if not gpus:
        return 0.0
    used = 0.0
    for gpu in gpus:
        if not gpu.layout:
            used += 1.0 if any(gpu.tenants) else 0.0
            continue
        for (name, _start), tenant in zip(gpu.layout, gpu.tenants, strict=True):
            if tenant:
                used += _instance_share(pool, name)[0]
    return round(used / len(gpus), 4)


def workload_outcomes(
    workloads: Sequence[Workload],
    pools: Sequence[PoolModel],
    options: Sequence[tuple[Option, ...]],
    placed: Materialised,
) -> tuple[WorkloadOutcome, ...]:
    units: dict[str, list[UnitPlacement]] = {}
    for unit in placed.units:
        units.setdefault(unit.workload, []).append(unit)
    failures: dict[int, str] = {}
    for failed, reason in placed.failed:
        failures.setdefault(failed.workload, reason)
    return tuple(
        _outcome(w, pools, opts, units.get(w.name, []), failures.get(i))
        for i, (w, opts) in enumerate(zip(workloads, options, strict=True))
    )


def _outcome(
    workload: Workload,
    pools: Sequence[PoolModel],
    options: tuple[Option, ...],
    units: list[UnitPlacement],
    failure: str | None,
) -> WorkloadOutcome:
    slices = tuple(sorted(Counter(u.slice for u in units).items()))
    if workload.throughput_mode:
        return _rate_outcome(workload, pools, options, units, slices, failure)
    placed, wanted = len(units), workload.replicas
    reason = ""
    if not options:
        reason = no_option_reason(workload, pools)
    elif placed < wanted:
        reason = failure or _shortage(pools, options)
    return WorkloadOutcome(
        workload.name, _status(workload, placed, wanted), wanted, placed, slices, reason
    )


def _rate_outcome(
    workload: Workload,
    pools: Sequence[PoolModel],
    options: tuple[Option, ...],
    units: list[UnitPlacement],
    slices: tuple[tuple[str, int], ...],
    failure: str | None,
) -> WorkloadOutcome:
    served = round(sum(u.throughput_rps or 0.0 for u in units), 3)
    rate = float(workload.request_rate or 0.0)
    met = served + 1e-9 >= rate
    reason = ""
    if not options:
        reason = no_option_reason(workload, pools)
    elif not met:
        reason = failure or _shortage(pools, options)
    status: Status = "placed" if met else _status(workload, 0 if not units else 1, 2)
    return WorkloadOutcome(
        workload.name, status, len(units), len(units), slices, reason, throughput_rps=served
    )


def _status(workload: Workload, placed: int, wanted: int) -> Status:
    if placed >= wanted:
        return "placed"
    if workload.kind == "batch":
        return "queued"
    return "partial" if placed else "unplaced"


def _shortage(pools: Sequence[PoolModel], options: tuple[Option, ...]) -> str:
    names = sorted({pools[o.pool].pool.name for o in options})
    capacity = ", ".join(f"'{n}'" for n in names)
    return f"pool {capacity} is full (higher priorities, then earlier entries, first)"
