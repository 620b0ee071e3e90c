"""Can the stack's deployed models be placed on its pools? Fast answers first, the planner last.

``validate`` must stay fast, so the planner runs only when a cheap argument cannot settle it:

1. a proven lower bound on the GPUs the serving workloads need (their compute and memory shares
   of a GPU) above a pool's capacity is a shortfall, without solving;
2. a pool where a count shows everything fits is placeable, without solving: whole-GPU gangs
   per node, MIG slices against an explicit layout's supply, and, where the planner picks the
   slice, every replica counted as whole GPUs (which it can always fall back to);
3. otherwise (``auto`` slices or layouts, gangs that may fragment, tight pools) the planner
   decides, and every model replica it cannot place is a shortfall, as ``explain`` shows it.

Pools without a node count are unbounded and never short. The number of replicas the planner is
given is bounded, so a huge ``replicas`` fails here instead of hanging ``explain`` or ``plan``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiplane.gpu.catalog import GpuSpec, get_gpu
from aiplane.gpu.problem import WHOLE_GPU, Pool, Workload

if TYPE_CHECKING:
    from aiplane.stack.loader import LoadedStack

MAX_REPLICAS_PER_POOL = 20_000
"""More replicas than this in one pool is refused: the planner works per replica."""


@dataclass(frozen=True)
class Shortfall:
    """A pool that cannot hold what the stack deploys on it (``model`` empty), or one model
    version that does not get all its replicas."""

    pool: str
    message: str
    hint: str = ""
    model: str = ""
    version: str = ""
    stage: str = ""


def placement_shortfalls(loaded: LoadedStack) -> list[Shortfall]:
    """Every pool that is over-subscribed and every model replica that cannot be placed."""
    from aiplane.gpu.from_stack import stack_problem

    problem, _sources = stack_problem(loaded)
    found: list[Shortfall] = []
    needs_solver = False
    for pool in problem.pools:
        gpu = get_gpu(pool.gpu)
        own = [w for w in problem.workloads if w.pools == (pool.name,)]
        serving = [w for w in own if w.kind != "batch"]
        need = gpu_lower_bound(gpu, pool, serving) if gpu is not None else 0
        replicas = sum(w.replicas for w in own)
        if pool.capacity is not None and need > pool.capacity:
            found.append(_over_subscribed(pool, need))
        elif replicas > MAX_REPLICAS_PER_POOL:
            found.append(_too_many(pool, replicas))
        elif not fits_by_counting(pool, own, gpu):
            needs_solver = True
    if found or not needs_solver:
        return found
    return _solved_shortfalls(loaded)


def gpu_lower_bound(gpu: GpuSpec, pool: Pool, workloads: list[Workload]) -> int:
    """GPUs the workloads need at least: their compute and memory shares, summed, rounded up."""
    compute = 0.0
    memory = 0.0
    for w in workloads:
        slice_name = w.slice
        if slice_name is None and pool.mig == "disabled":
            slice_name = WHOLE_GPU
        if slice_name == WHOLE_GPU or w.gpus > 1:
            compute += w.replicas * max(w.gpus, 1)
            memory += w.replicas * max(w.gpus, 1)
            continue
        profile = gpu.mig_profiles.get(slice_name or "")
        if profile is not None:
            compute += w.replicas * profile.compute_slices / gpu.compute_slots
            memory += w.replicas * profile.memory_slices / gpu.memory_slots
        else:  # planner's choice: at least its memory and its minimum compute share
            compute += w.replicas * min(w.min_compute_slices / gpu.compute_slots, 1.0)
            memory += w.replicas * min(w.memory_gib / gpu.memory_gib, 1.0)
    return math.ceil(max(compute, memory) - 1e-9)


def fits_by_counting(pool: Pool, workloads: list[Workload], gpu: GpuSpec | None = None) -> bool:
    """True when a simple count shows all replicas fit (a sufficient test: False means "ask the
    planner", not "short").

    Where the planner may choose the slice (``auto`` layouts, ``auto`` resources outside fixed
    layouts) every replica is counted as whole GPUs, which the planner can always fall back to;
    fixed layouts are counted slice by slice."""
    if pool.nodes is None:
        return True
    if pool.mig != "fixed":
        return _whole_gpus_fit(pool, workloads, gpu)
    if any(w.slice is None for w in workloads):
        return False
    layouts = list(pool.gpu_layouts) or [{} for _ in range(pool.gpus_per_node)]
    whole_per_node = sum(1 for layout in layouts if not layout)
    gangs: dict[int, int] = {}
    demand: dict[str, int] = {}
    for w in workloads:
        if w.slice == WHOLE_GPU:
            gangs[max(w.gpus, 1)] = gangs.get(max(w.gpus, 1), 0) + w.replicas
        else:
            demand[w.slice or ""] = demand.get(w.slice or "", 0) + w.replicas
    supply = {name: pool.nodes * sum(layout.get(name, 0) for layout in layouts) for name in demand}
    return all(demand[n] <= supply[n] for n in demand) and _gangs_fit(
        gangs, whole_per_node, pool.nodes
    )


def _whole_gpus_fit(pool: Pool, workloads: list[Workload], gpu: GpuSpec | None) -> bool:
    gangs: dict[int, int] = {}
    for w in workloads:
        if w.slice is None and (gpu is None or w.memory_gib > gpu.memory_gib):
            return False  # may fit no slice at all: the planner says
        if w.slice not in (None, WHOLE_GPU) and pool.mig == "disabled":
            return False  # a MIG slice on a pool without MIG (reported by the pool checks)
        size = max(w.gpus, 1) if w.slice == WHOLE_GPU else 1
        gangs[size] = gangs.get(size, 0) + w.replicas
    return _gangs_fit(gangs, pool.gpus_per_node, pool.nodes or 0)


def _gangs_fit(gangs: dict[int, int], per_node: int, nodes: int) -> bool:
    """Best-fit decreasing of whole-GPU gangs (size -> count) into ``nodes`` nodes of
    ``per_node`` free GPUs, nodes grouped by free GPUs so it costs nothing per replica. True
    only when it places every gang (a sufficient test: the planner may do better)."""
    free: dict[int, int] = {per_node: nodes}
    for size in sorted(gangs, reverse=True):
        left = gangs[size]
        for room in sorted(free):
            if left == 0:
                break
            if room < size or free[room] == 0:
                continue
            each = room // size
            used = min(free[room], -(-left // each))
            full = min(used, left // each)
            free[room] -= used
            free[room - each * size] = free.get(room - each * size, 0) + full
            left -= full * each
            if used > full:  # one node takes the remainder
                free[room - left * size] = free.get(room - left * size, 0) + 1
                left = 0
        if left:
            return False
    return True


def _solved_shortfalls(loaded: LoadedStack) -> list[Shortfall]:
    from aiplane.gpu.from_stack import placement_for_stack

    placement = placement_for_stack(loaded)
    return [
        Shortfall(
            m.pool,
            f"model {m.name} {m.version} ({m.stage}): {m.replicas_placed} of {m.replicas} "
            f"replicas can be placed in pool {m.pool}" + (f": {m.reason}" if m.reason else ""),
            "add nodes to the pool, lower replicas, or use smaller slices "
            "(aiplane explain shows the placement)",
            m.name,
            m.version,
            m.stage,
        )
        for m in placement.models
        if m.kind == "model" and m.status != "placed"
    ]


def _over_subscribed(pool: Pool, need: int) -> Shortfall:
    capacity = pool.capacity or 0
    return Shortfall(
        pool.name,
        f"pool {pool.name} is over-subscribed: its deployed models need at least {need} "
        f"{pool.gpu} GPUs, it has {capacity} ({pool.nodes} node(s) × {pool.gpus_per_node}): "
        f"short by {need - capacity} GPUs",
        f"add at least {-(-(need - capacity) // pool.gpus_per_node)} node(s), or lower replicas",
    )


def _too_many(pool: Pool, replicas: int) -> Shortfall:
    return Shortfall(
        pool.name,
        f"pool {pool.name} is asked for {replicas} replicas, more than the "
        f"{MAX_REPLICAS_PER_POOL} the placement planner takes per pool",
        "lower replicas (or use autoscaling with a smaller minReplicas)",
    )
