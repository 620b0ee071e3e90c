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
from aiplane.gpu.layouts import check_layout, enumerate_layouts
from aiplane.gpu.problem import WHOLE_GPU, Pool, ThroughputProfile, Workload

LayoutKey = tuple[tuple[str, int], ...]  # sorted (slice, count) pairs
WHOLE_KEY: LayoutKey = ((WHOLE_GPU, 1),)


def layout_key(layout: Mapping[str, int]) -> LayoutKey:
    """Hashable form of a layout; an empty layout is a whole GPU."""
    return tuple(sorted((name, n) for name, n in layout.items() if n)) or WHOLE_KEY


@dataclass(frozen=True)
class PoolModel:
    """A pool with its GPU resolved and the per-GPU layouts the solvers may choose from."""

    index: int
    pool: Pool
    gpu: GpuSpec
    slices: Mapping[str, tuple[int, int, float]]  # slice → (compute, memory slots, GiB)
    layouts: tuple[Mapping[str, int], ...]  # maximal layouts; {WHOLE_GPU: 1} for a whole GPU
    limits: tuple[int | None, ...]  # most GPUs that may have each layout (None: pool capacity)
    index_layouts: tuple[LayoutKey, ...] = ()  # fixed pools: layout of GPU index i on a node

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
    if pool.mig == "fixed" and gpu.mig_capable:
        return _fixed_pool_model(index, pool, gpu)
    layouts: list[Mapping[str, int]] = []
    if pool.mig == "auto" and gpu.mig_capable:
        media = any(name in gpu.mig_profiles and name.endswith("+me") for name in pinned)
        layouts = list(enumerate_layouts(gpu, maximal=True, include_media=media))
    layouts.append(MappingProxyType({WHOLE_GPU: 1}))
    slices = _slices(gpu, layouts)
    limits = tuple(None for _ in layouts)
    return PoolModel(index, pool, gpu, slices, tuple(layouts), limits)


def _fixed_pool_model(index: int, pool: Pool, gpu: GpuSpec) -> PoolModel:
    """Explicit layouts: each distinct one is allowed on as many GPUs as are configured so."""
    per_index = pool.gpu_layouts or (pool.fixed_layout or {},) * pool.gpus_per_node
    for layout in per_index:
        problem = check_layout(gpu, layout) if layout else None
        if problem is not None:
            raise ValueError(f"pool '{pool.name}': {problem}")
    keys = [layout_key(layout) for layout in per_index]
    keys += [WHOLE_KEY] * (pool.gpus_per_node - len(keys))  # unlisted GPUs stay whole
    keys = keys[: pool.gpus_per_node]
    distinct = sorted(set(keys), key=keys.index)
    layouts = tuple(MappingProxyType(dict(k)) for k in distinct)
    nodes = pool.nodes
    limits = tuple(None if nodes is None else nodes * keys.count(k) for k in distinct)
    return PoolModel(index, pool, gpu, _slices(gpu, layouts), layouts, limits, tuple(keys))


def _slices(
    gpu: GpuSpec, layouts: Sequence[Mapping[str, int]]
) -> Mapping[str, tuple[int, int, float]]:
    """(compute, memory slots, GiB) of every slice some layout offers."""
    slices: dict[str, tuple[int, int, float]] = {}
    for name in sorted({n for layout in layouts for n in layout}):
        if name == WHOLE_GPU:
            slices[name] = (gpu.compute_slots or 1, gpu.memory_slots or 1, gpu.memory_gib)
        else:
            profile = gpu.mig_profiles[name]
            slices[name] = (profile.compute_slices, profile.memory_slices, profile.memory_gib)
    return MappingProxyType(slices)


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
            if workload.slice is None and not whole and _full_size(pool, compute):
                continue  # a whole GPU without MIG serves the same and has a bit more memory
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


def _full_size(pool: PoolModel, compute: int) -> bool:
    return compute >= pool.compute_slots and WHOLE_GPU in pool.slices


def smallest_slice(gpu: GpuSpec, memory_gib: float, min_compute_slices: int = 1) -> str | None:
    """HAMi's rule: the MIG profile with least compute, then least memory, that holds
    ``memory_gib`` with ``min_compute_slices``; WHOLE_GPU when only the whole GPU does; None
    when not even that. Media (``+me``) and full-size profiles are never proposed."""
    fitting = [
        p
        for p in gpu.mig_profiles.values()
        if not p.media_extensions
        and p.compute_slices < gpu.compute_slots
        and p.memory_gib >= memory_gib
        and p.compute_slices >= min_compute_slices
    ]
    if fitting:
        return min(fitting, key=lambda p: (p.compute_slices, p.memory_slices, p.name)).name
    return WHOLE_GPU if gpu.memory_gib >= memory_gib else None


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
        if workload.replicas > 0:
            groups.setdefault(key, []).extend((index, r) for r in range(workload.replicas))
    return tuple(
        DemandClass(opts, gang, priority, tuple(members))
        for (opts, gang, priority), members in groups.items()
    )
