"""First-fit decreasing: the fallback when the integer program runs out of time, and the
baseline the benchmark compares against.

Each unit takes its smallest option (HAMi's rule: least compute, then least memory); units go in
order of priority, then size (gang GPUs, compute, memory) descending; each goes on the
lowest-numbered GPU of its pool that can still take its slice, else on a new GPU while the pool
has room, else on its next option. A GPU's state is its multiset of instances; a slice fits when
the grown multiset is still a valid layout (``check_layout``), so instances may be re-placed.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Sequence
from functools import lru_cache

from aiplane.gpu.catalog import GpuSpec
from aiplane.gpu.layouts import check_layout
from aiplane.gpu.options import (
    WHOLE_KEY,
    DemandClass,
    LayoutKey,
    Option,
    PoolModel,
    RateDemand,
    layout_key,
)
from aiplane.gpu.problem import WHOLE_GPU
from aiplane.gpu.solver import Solution


@lru_cache(maxsize=8192)
def _grow(
    gpu: GpuSpec, state: LayoutKey, name: str, template: LayoutKey | None
) -> LayoutKey | None:
    """The state after adding one ``name`` instance, or None if that is no longer valid.

    With a ``template`` (fixed pools) the state must stay within the configured layout.
    """
    counts = dict(state)
    counts[name] = counts.get(name, 0) + 1
    grown = tuple(sorted(counts.items()))
    if template is not None:
        allowed = dict(template)
        return grown if all(n <= allowed.get(k, 0) for k, n in grown) else None
    return grown if check_layout(gpu, counts) is None else None


class _PoolState:
    """GPUs of one pool indexed by (state, template), so first fit is a heap lookup."""

    def __init__(self, model: PoolModel) -> None:
        self.model = model
        self.gpus: list[tuple[LayoutKey, LayoutKey | None]] = []  # (state, template)
        self.by_state: dict[tuple[LayoutKey, LayoutKey | None], list[int]] = {}
        self.gang_gpus = 0
        fixed = model.pool.mig == "fixed" and bool(model.index_layouts)
        self.left: dict[LayoutKey, int | None] | None = None
        if fixed:
            self.left = {layout_key(k): n for k, n in zip(model.layouts, model.limits, strict=True)}

    @property
    def used(self) -> int:
        return len(self.gpus) + self.gang_gpus

    def room(self, gpus: int) -> bool:
        capacity = self.model.pool.capacity
        return capacity is None or self.used + gpus <= capacity

    def add(self, option: Option, gang: int) -> bool:
        if gang > 1:
            if not self.room(gang) or not self._reserve_whole(gang):
                return False
            self.gang_gpus += gang
            return True
        best: tuple[int, tuple[LayoutKey, LayoutKey | None], LayoutKey] | None = None
        if option.slice != WHOLE_GPU:
            for (state, template), heap in self.by_state.items():
                grown = _grow(self.model.gpu, state, option.slice, template) if heap else None
                if grown is not None and (best is None or heap[0] < best[0]):
                    best = (heap[0], (state, template), grown)
        if best is None:
            return self._new_gpu(option.slice)
        index, key, grown = best
        heapq.heappop(self.by_state[key])
        self._set(index, grown, key[1])
        return True

    def _reserve_whole(self, count: int) -> bool:
        if self.left is None:
            return True
        left = self.left.get(WHOLE_KEY, 0)
        if left is not None and left < count:
            return False
        if left is not None:
            self.left[WHOLE_KEY] = left - count
        return True

    def _new_gpu(self, name: str) -> bool:
        if not self.room(1):
            return False
        template = self._template_for(name)
        if self.left is not None and template is None:
            return False
        state: LayoutKey = ((name, 1),) if name != WHOLE_GPU else WHOLE_KEY
        self.gpus.append((state, template))
        self._set(len(self.gpus) - 1, state, template)
        return True

    def _template_for(self, name: str) -> LayoutKey | None:
        """Fixed pools: the first configured layout with that slice and a GPU left."""
        if self.left is None:
            return None
        for key, left in self.left.items():
            if dict(key).get(name) and (left is None or left > 0):
                if left is not None:
                    self.left[key] = left - 1
                return key
        return None

    def _set(self, index: int, state: LayoutKey, template: LayoutKey | None) -> None:
        self.gpus[index] = (state, template)
        if state != WHOLE_KEY:
            heapq.heappush(self.by_state.setdefault((state, template), []), index)

    def layouts(self) -> list[LayoutKey]:
        """What each GPU is configured as: the template in fixed pools, else its instances."""
        return [template or state for state, template in self.gpus]


def solve_greedy(
    pools: Sequence[PoolModel], classes: Sequence[DemandClass], rates: Sequence[RateDemand]
) -> Solution:
    """First-fit decreasing over all units; never fails, may leave units unplaced."""
    started = time.perf_counter()
    states = [_PoolState(p) for p in pools]
    units: dict[tuple[int, int], int] = {}
    for ci in _unit_order(classes):
        demand = classes[ci]
        for oi, option in enumerate(demand.options):
            if states[option.pool].add(option, demand.gang):
                units[ci, oi] = units.get((ci, oi), 0) + 1
                break
    segments, admitted = _greedy_segments(states, rates)
    layouts: dict[tuple[int, LayoutKey], int] = {}
    for state in states:
        for key in state.layouts():
            layouts[state.model.index, key] = layouts.get((state.model.index, key), 0) + 1
    gpus = sum(s.used for s in states)
    return Solution(
        units=units,
        segments=segments,
        layouts=tuple((t, key, n) for (t, key), n in sorted(layouts.items())),
        gpus=gpus,
        lower_bound=0,
        optimal=False,
        seconds=time.perf_counter() - started,
        status="greedy",
        admitted_rates=frozenset(admitted),
    )


def _unit_order(classes: Sequence[DemandClass]) -> list[int]:
    """One entry per unit (class index repeated), biggest and most important first."""

    def size(ci: int) -> tuple[int, int, int]:
        demand = classes[ci]
        smallest = demand.options[0]
        return (-demand.priority, -demand.gang, -smallest.compute * 100 - smallest.memory)

    order = sorted(range(len(classes)), key=size)
    return [ci for ci in order for _ in range(classes[ci].count)]


def _greedy_segments(
    states: Sequence[_PoolState], rates: Sequence[RateDemand]
) -> tuple[dict[tuple[int, int], int], list[int]]:
    """Serve each rate with the option of best throughput per compute slice."""
    segments: dict[tuple[int, int], int] = {}
    admitted = []
    for ri in sorted(range(len(rates)), key=lambda r: -rates[r].priority):
        demand = rates[ri]
        oi = max(
            range(len(demand.options)),
            key=lambda i: demand.options[i].throughput / demand.options[i].compute,
        )
        option = demand.options[oi]
        needed = math.ceil(demand.rate / option.throughput - 1e-9)
        placed = 0
        while placed < needed and states[option.pool].add(option, 1):
            placed += 1
        if placed:
            segments[ri, oi] = placed
        if placed == needed:
            admitted.append(ri)
    return segments, admitted


def gpu_lower_bound(
    pools: Sequence[PoolModel], classes: Sequence[DemandClass], rates: Sequence[RateDemand]
) -> int:
    """Every GPU offers at most 1 in compute share and 1 in memory share, so the sum of the
    smallest shares any option needs bounds the GPUs from below (gangs count whole GPUs)."""
    compute = memory = 0.0
    for demand in classes:
        if demand.gang > 1:
            compute += demand.count * demand.gang
            memory += demand.count * demand.gang
            continue
        shares = [o.gpu_share(pools[o.pool]) for o in demand.options]
        compute += demand.count * min(c for c, _m in shares)
        memory += demand.count * min(m for _c, m in shares)
    for rate in rates:
        best_c = min(o.gpu_share(pools[o.pool])[0] / o.throughput for o in rate.options)
        best_m = min(o.gpu_share(pools[o.pool])[1] / o.throughput for o in rate.options)
        compute += rate.rate * best_c
        memory += rate.rate * best_m
    return math.ceil(max(compute, memory) - 1e-9)
