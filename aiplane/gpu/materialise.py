"""Turn a solver's counts into concrete nodes, GPUs, MIG instances and tenants.

Gangs are packed into nodes first (largest first, first fit), because they need several free
GPUs side by side; then the layout GPUs fill the remaining GPU slots node by node; then every
unit takes the next free instance of its slice. Replica ``r`` of every workload is placed before
replica ``r + 1`` of any, which spreads a workload's replicas over different GPUs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiplane.gpu.layouts import place_layout
from aiplane.gpu.options import WHOLE_KEY, DemandClass, LayoutKey, Option, PoolModel, RateDemand
from aiplane.gpu.problem import WHOLE_GPU, GpuAssignment, UnitPlacement, Workload
from aiplane.gpu.solver import Solution


@dataclass(frozen=True)
class Unit:
    """One replica, segment or gang the solver decided to place."""

    workload: int
    index: int
    option: Option
    gang: int = 1


@dataclass
class _Gpu:
    node: int
    index: int
    instances: list[tuple[str, int | None]]  # (slice, start)
    tenants: list[str] = field(default_factory=list)


@dataclass
class Materialised:
    units: list[UnitPlacement] = field(default_factory=list)
    gpus: list[GpuAssignment] = field(default_factory=list)
    failed: list[tuple[Unit, str]] = field(default_factory=list)  # units that found no room


def chosen_units(
    classes: Sequence[DemandClass], rates: Sequence[RateDemand], solution: Solution
) -> list[Unit]:
    """Expand counts into units: a class's members take its options in order."""
    units = []
    for ci, demand in enumerate(classes):
        members = iter(demand.members)
        for oi, option in enumerate(demand.options):
            for _ in range(solution.units.get((ci, oi), 0)):
                workload, replica = next(members)
                units.append(Unit(workload, replica, option, demand.gang))
    for ri, rate in enumerate(rates):
        index = 0
        for oi, option in enumerate(rate.options):
            for _ in range(solution.segments.get((ri, oi), 0)):
                units.append(Unit(rate.workload, index, option))
                index += 1
    return units


def materialise(
    workloads: Sequence[Workload],
    pools: Sequence[PoolModel],
    units: Sequence[Unit],
    layouts: Sequence[tuple[int, LayoutKey, int]],
) -> Materialised:
    out = Materialised()
    for pool in pools:
        mine = [u for u in units if u.option.pool == pool.index]
        pool_layouts = [(key, n) for t, key, n in layouts if t == pool.index]
        if mine or pool_layouts:
            _materialise_pool(workloads, pool, mine, pool_layouts, out)
    return out


def _materialise_pool(
    workloads: Sequence[Workload],
    pool: PoolModel,
    units: Sequence[Unit],
    layouts: Sequence[tuple[LayoutKey, int]],
    out: Materialised,
) -> None:
    name = pool.pool.name
    free = _Nodes(pool)
    gangs = sorted((u for u in units if u.gang > 1), key=lambda u: (-u.gang, u.workload, u.index))
    for unit in gangs:
        slots = free.take_together(unit.gang, WHOLE_KEY)
        if slots is None:
            reason = f"no node in pool '{name}' has {unit.gang} free GPUs together"
            out.failed.append((unit, reason))
            continue
        node = slots[0][0]
        indices = tuple(g for _n, g in slots)
        label = _label(workloads, unit)
        for g in indices:
            out.gpus.append(GpuAssignment(name, node, g, (), (label,)))
        out.units.append(
            UnitPlacement(
                workloads[unit.workload].name, unit.index, name, node, indices, WHOLE_GPU, None
            )
        )
    queues: dict[str, deque[tuple[_Gpu, int]]] = {}
    gpus: list[_Gpu] = []
    for key, count in layouts:
        for _ in range(count):
            slot = free.take_one(key)
            if slot is None:
                raise RuntimeError(f"pool '{name}': solver used more GPUs than it has")
            gpu = _Gpu(slot[0], slot[1], _instances(pool, key))
            gpu.tenants = [""] * len(gpu.instances)
            for i, (slice_name, _start) in enumerate(gpu.instances):
                queues.setdefault(slice_name, deque()).append((gpu, i))
            gpus.append(gpu)
    singles = sorted((u for u in units if u.gang == 1), key=lambda u: (u.index, u.workload))
    for unit in singles:
        queue = queues.get(unit.option.slice)
        if not queue:
            out.failed.append((unit, f"pool '{name}' has no free {unit.option.slice} instance"))
            continue
        gpu, i = queue.popleft()
        gpu.tenants[i] = _label(workloads, unit)
        out.units.append(_placement(workloads, unit, name, gpu, gpu.instances[i][1]))
    for gpu in gpus:
        layout = tuple((s, st) for s, st in gpu.instances if st is not None)
        out.gpus.append(GpuAssignment(name, gpu.node, gpu.index, layout, tuple(gpu.tenants)))


def _label(workloads: Sequence[Workload], unit: Unit) -> str:
    return f"{workloads[unit.workload].name}#{unit.index}"


def _placement(
    workloads: Sequence[Workload], unit: Unit, pool: str, gpu: _Gpu, start: int | None
) -> UnitPlacement:
    option = unit.option
    return UnitPlacement(
        workload=workloads[unit.workload].name,
        index=unit.index,
        pool=pool,
        node=gpu.node,
        gpus=(gpu.index,),
        slice=option.slice,
        start=start,
        batch_size=option.batch_size,
        processes=option.processes,
        throughput_rps=option.throughput or None,
    )


def _instances(pool: PoolModel, key: LayoutKey) -> list[tuple[str, int | None]]:
    counts = dict(key)
    if counts.get(WHOLE_GPU):
        return [(WHOLE_GPU, None)]
    placement = place_layout(pool.gpu, counts)
    if placement is None:
        raise RuntimeError(f"invalid layout {counts} chosen for {pool.gpu.name}")
    return [(name, start) for name, start in placement]


class _Nodes:
    """Free GPU slots per node; an unbounded pool grows a node at a time. In a fixed pool each
    GPU index has its configured layout, and a GPU of layout ``key`` must take such a slot."""

    def __init__(self, pool: PoolModel) -> None:
        self.per_node = pool.pool.gpus_per_node
        self.limit = pool.pool.nodes
        self.index_layouts = pool.index_layouts
        self.free: list[list[int]] = []
        self.cursor: dict[LayoutKey | None, int] = {}  # nodes before it have no such slot

    def _grow(self) -> bool:
        if self.limit is not None and len(self.free) >= self.limit:
            return False
        self.free.append(list(range(self.per_node)))
        return True

    def _fits(self, slot: int, key: LayoutKey | None) -> bool:
        return key is None or not self.index_layouts or self.index_layouts[slot] == key

    def take_together(
        self, count: int, key: LayoutKey | None = None
    ) -> list[tuple[int, int]] | None:
        if count > self.per_node:
            return None
        while True:
            for node, slots in enumerate(self.free):
                usable = [s for s in slots if self._fits(s, key)]
                if len(usable) >= count:
                    taken = usable[:count]
                    self.free[node] = [s for s in slots if s not in taken]
                    return [(node, g) for g in taken]
            if not self._grow():
                return None

    def take_one(self, key: LayoutKey | None = None) -> tuple[int, int] | None:
        key = key if self.index_layouts else None
        node = self.cursor.get(key, 0)
        while True:
            while node < len(self.free):
                slots = self.free[node]
                for position, slot in enumerate(slots):
                    if self._fits(slot, key):
                        self.cursor[key] = node
                        return node, slots.pop(position)
                node += 1
            if not self._grow():
                self.cursor[key] = node
                return None
