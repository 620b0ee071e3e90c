"""Which slices each workload may use, and the demand classes the solvers work on.

A workload's *options* are the (pool, slice) pairs where one unit fits: enough memory, enough
compute for its latency SLO, a slice the pool's MIG policy offers. Workloads whose option sets,
gang size and priority are identical are interchangeable, so they are aggregated into one
*class* with a count — which keeps the integer program the same size for 50 or 10,000 models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from aiplane.gpu.catalog import GpuSpec, get_gpu
from aiplane.gpu.layouts import enumerate_layouts
from aiplane.gpu.problem import WHOLE_GPU, Pool, ThroughputProfile, Workload


@dataclass(frozen=True)
class PoolModel:
    """A pool with its GPU resolved and the per-GPU layouts the solvers may choose from."""

    index: int
    pool: Pool
    gpu: GpuSpec
    slices: Mapping[str, tuple[int, int, float]]  # slice → (compute, memory slots, GiB)
    layouts: tuple[Mapping[str, int], ...]  # maximal layouts; {WHOLE_GPU: 1} for a whole GPU

    @property
    def compute_slots(self) -> int:
        return max(self.gpu.compute_slots, 1)

    @property
    def memory_slots(self) -> int:
        return max(self.gpu.memory_slots, 1)


@dataclass(frozen=True)
class Option:
    pool: int
    slice: str
    compute: int
    memory: int
    throughput: float = 0.0
    batch_size: int | None = None
    processes: int | None = None

    def gpu_share(self, pool: PoolModel) -> tuple[float, float]:
        """Fraction of one GPU's (compute, memory) this unit takes — for lower bounds."""
        return self.compute / pool.compute_slots, self.memory / pool.memory_slots


@dataclass(frozen=True)
class DemandClass:
    """``len(members)`` interchangeable units: replicas, or gangs of ``gang`` whole GPUs."""

    options: tuple[Option, ...]
    gang: int
    priority: int
    members: tuple[tuple[int, int], ...]  # (workload index, replica index)

    @property
    def count(self) -> int:
        return len(self.members)


@dataclass(frozen=True)
class RateDemand:
    """A throughput-mode workload: enough segments to serve ``rate`` req/s."""

    workload: int
    options: tuple[Option, ...]
    rate: float
    priority: int


def build_pools(pools: Sequence[Pool], pinned: set[str]) -> tuple[PoolModel, ...]:
    """Resolve GPUs and layouts; ``pinned`` slices (e.g. ``+me``) widen the layout set."""
    out = []
    for index, pool in enumerate(pools):
        gpu = get_gpu(pool.gpu)
        if gpu is None:
            raise ValueError(f"pool '{pool.name}': unknown GPU '{pool.gpu}'")
        out.append(_pool_model(index, pool, gpu, pinned))
    return tuple(out)


def _pool_model(index: int, pool: Pool, gpu: GpuSpec, pinned: set[str]) -> PoolModel:
    whole = (gpu.compute_slots or 1, gpu.memory_slots or 1, gpu.memory_gib)
    slices: dict[str, tuple[int, int, float]] = {}
    layouts: list[Mapping[str, int]] = []
    if pool.mig == "fixed" and gpu.mig_capable:
        fixed = dict(pool.fixed_layout or {})
        layouts = [MappingProxyType(fixed)]
        names = set(fixed)
    elif pool.mig == "auto" and gpu.mig_capable:
        media = any(name in gpu.mig_profiles and name.endswith("+me") for name in pinned)
        layouts = [MappingProxyType(dict(x)) for x in enumerate_layouts(gpu, maximal=True)]
        if media:
            layouts = enumerate_layouts(gpu, maximal=True, include_media=True)
        names = {n for layout in layouts for n in layout}
    else:
        names = set()
    for name in sorted(names):
        profile = gpu.mig_profiles[name]
        slices[name] = (profile.compute_slices, profile.memory_slices, profile.memory_gib)
    if pool.mig != "fixed" or not gpu.mig_capable:
        slices[WHOLE_GPU] = whole
        layouts.append(MappingProxyType({WHOLE_GPU: 1}))
    return PoolModel(index, pool, gpu, MappingProxyType(slices), tuple(layouts))


def _allowed_pools(workload: Workload, pools: Sequence[PoolModel]) -> list[PoolModel]:
    return [p for p in pools if not workload.pools or p.pool.name in workload.pools]


def unit_options(workload: Workload, pools: Sequence[PoolModel]) -> tuple[Option, ...]:
    """Options for one replica (or one gang) of a capacity-mode workload, smallest first."""
    options = []
    for pool in _allowed_pools(workload, pools):
        for name, (compute, memory, gib) in pool.slices.items():
            whole = name == WHOLE_GPU
            if workload.slice is not None and name != workload.slice:
                continue
            if (workload.gpus > 1 or workload.kind == "training") and not whole:
                continue
            if workload.gpus > pool.pool.gpus_per_node:
                continue
            if gib < workload.memory_gib:
                continue
            if not whole and compute < workload.min_compute_slices:
                continue
            options.append(Option(pool.index, name, compute, memory))
    return tuple(sorted(options, key=lambda o: (o.pool, o.compute, o.memory, o.slice)))


def rate_options(workload: Workload, pools: Sequence[PoolModel]) -> tuple[Option, ...]:
    """Per (pool, slice) the admissible profile with the highest throughput (it dominates)."""
    best: dict[tuple[int, str], tuple[float, ThroughputProfile]] = {}
    for pool in _allowed_pools(workload, pools):
        for profile in workload.profiles:
            if not _profile_fits(workload, pool, profile):
                continue
            key = (pool.index, profile.slice)
            rank = (profile.throughput_rps, -profile.processes)
            if key not in best or rank > (best[key][0], -best[key][1].processes):
                best[key] = (profile.throughput_rps, profile)
    options = []
    for (pool_index, name), (_, profile) in sorted(best.items()):
        compute, memory, _gib = pools[pool_index].slices[name]
        options.append(
            Option(
                pool_index,
                name,
                compute,
                memory,
                profile.throughput_rps,
                profile.batch_size,
                profile.processes,
            )
        )
    return tuple(options)


def _profile_fits(workload: Workload, pool: PoolModel, profile: ThroughputProfile) -> bool:
    if profile.gpu is not None:
        measured = get_gpu(profile.gpu)
        if measured is None or measured.name != pool.gpu.name:
            return False
    if profile.slice not in pool.slices or profile.throughput_rps <= 0:
        return False
    if workload.latency_slo_ms is not None and profile.latency_ms > workload.latency_slo_ms:
        return False
    return pool.slices[profile.slice][2] >= workload.memory_gib


def no_option_reason(workload: Workload, pools: Sequence[PoolModel]) -> str:
    """Why a workload has no option anywhere, in the user's terms."""
    allowed = _allowed_pools(workload, pools)
    if not allowed:
        return f"no pool among {', '.join(workload.pools)}"
    if workload.throughput_mode:
        return f"no profile meets the {workload.latency_slo_ms} ms latency SLO in any pool"
    parts = []
    for pool in allowed:
        parts.append(_pool_rejection(workload, pool))
    return "; ".join(parts)


def _pool_rejection(workload: Workload, pool: PoolModel) -> str:
    label = f"pool '{pool.pool.name}' ({pool.gpu.name})"
    if workload.gpus > pool.pool.gpus_per_node:
        return (
            f"{label}: needs {workload.gpus} GPUs in one node, nodes have {pool.pool.gpus_per_node}"
        )
    if workload.slice is not None and workload.slice not in pool.slices:
        return f"{label}: slice {workload.slice} not offered"
    largest = max(gib for _c, _m, gib in pool.slices.values())
    if largest < workload.memory_gib:
        return (
            f"{label}: needs {workload.memory_gib:.1f} GiB per GPU, largest slice has {largest:.1f}"
        )
    return f"{label}: no slice with {workload.min_compute_slices} compute slices and enough memory"


def build_classes(
    workloads: Sequence[Workload], options: Sequence[tuple[Option, ...]]
) -> tuple[DemandClass, ...]:
    """Aggregate replicas with identical options, gang size and priority, in input order."""
    groups: dict[tuple[tuple[Option, ...], int, int], list[tuple[int, int]]] = {}
    for index, (workload, opts) in enumerate(zip(workloads, options, strict=True)):
        if workload.throughput_mode or not opts:
            continue
        key = (opts, workload.gpus, workload.priority)
        groups.setdefault(key, []).extend((index, r) for r in range(workload.replicas))
    return tuple(
        DemandClass(opts, gang, priority, tuple(members))
        for (opts, gang, priority), members in groups.items()
    )
