"""Queue quotas from GPU pools: what each pool can give queued work, in GPUs or MIG slices.

A pool's quota is its capacity (nodes × GPUs per node, each GPU whole or cut into the slices of
its MIG layout, times the time-slicing replicas) minus what the stack's own serving takes (the
placement of every deployed model version). Pipeline steps and batch jobs are what queues, so
they are not subtracted. Pure: render (Kueue objects), the stack checks (does a request fit any
quota) and explain use the same numbers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiplane.gpu.catalog import get_gpu

if TYPE_CHECKING:
    from aiplane.gpu.stack_placement import PoolPlacement, StackPlacement
    from aiplane.stack.loader import LoadedStack
    from aiplane.stack.models import GpuPool, StackSpec

WHOLE_GPU = "nvidia.com/gpu"


@dataclass(frozen=True)
class PoolQuota:
    """One pool's queue: its Kueue names and its quota per extended resource."""

    pool: str
    flavor: str
    cluster_queue: str
    local_queue: str
    capacity: Mapping[str, int]
    serving: Mapping[str, int]
    borrowing_limit: int | None = None
    lending_limit: int | None = None
    nominal: Mapping[str, int] = field(default_factory=dict)

    def admissible(self, resource: str, others: list[PoolQuota]) -> int:
        """The most one workload can get here: nominal quota plus what the cohort can lend."""
        own = self.nominal.get(resource, 0)
        lendable = sum(
            min(o.nominal.get(resource, 0), o.lending_limit)
            if o.lending_limit is not None
            else o.nominal.get(resource, 0)
            for o in others
            if o.pool != self.pool
        )
        if self.borrowing_limit is not None:
            lendable = min(lendable, self.borrowing_limit)
        return own + lendable


def queue_names(stack: str, pool: str) -> tuple[str, str, str]:
    """(ResourceFlavor, ClusterQueue, LocalQueue) names of a pool: the cluster-scoped ones carry
    the stack name so two stacks never share them."""
    return f"{stack}-{pool}", f"{stack}-{pool}", pool


def resource_key(pool: GpuPool, slice_name: str | None) -> str:
    """The extended resource a pod asks for: whole GPUs, or one MIG slice (mixed strategy: its
    own resource; single: ``nvidia.com/gpu``), with the ``.shared`` suffix of renamed
    time-slicing."""
    key = WHOLE_GPU
    gpu = get_gpu(pool.gpu)
    profile = gpu.profile(slice_name) if gpu and slice_name else None
    if profile is not None and pool.mig.strategy == "mixed":
        key = profile.resource_name
    if pool.time_slicing is not None and pool.time_slicing.rename_by_default:
        key += ".shared"
    return key


def _node_layouts(pool: GpuPool, placed: PoolPlacement | None) -> list[list[dict[str, int]]]:
    """Per node, per GPU index: MIG profile counts (empty: a whole GPU)."""
    nodes = pool.nodes or 0
    whole: list[dict[str, int]] = [{} for _ in range(pool.gpus_per_node)]
    if pool.mig.policy == "explicit":
        for entry in pool.mig.devices:
            indices = range(pool.gpus_per_node) if entry.gpus == "all" else entry.gpus
            for i in indices:
                if 0 <= i < pool.gpus_per_node:
                    whole[i] = dict(entry.profiles)
        return [whole] * nodes
    if pool.mig.policy != "auto" or placed is None:
        return [whole] * nodes
    planned: dict[int, list[dict[str, int]]] = {}
    for gpu in placed.gpus:
        layout = planned.setdefault(gpu.node, [{} for _ in range(pool.gpus_per_node)])
        if 0 <= gpu.index < pool.gpus_per_node and gpu.layout:
            layout[gpu.index] = dict(Counter(name for name, _start in gpu.layout))
    distinct = {tuple(tuple(sorted(g.items())) for g in v) for v in planned.values()}
    # Render gives unplanned nodes the one layout when all planned nodes share it.
    spare = next(iter(planned.values())) if len(distinct) == 1 else whole
    return [planned.get(n, spare) for n in range(nodes)]


def pool_capacity(pool: GpuPool, placed: PoolPlacement | None) -> dict[str, int]:
    """Devices the pool's nodes advertise, per extended resource."""
    replicas = pool.time_slicing.replicas if pool.time_slicing is not None else 1
    counts: Counter[str] = Counter()
    for node in _node_layouts(pool, placed):
        for profiles in node:
            if not profiles:
                counts[resource_key(pool, None)] += replicas
            for name, count in profiles.items():
                counts[resource_key(pool, name)] += count * replicas
    return dict(sorted(counts.items()))


def serving_use(pool: GpuPool, placement: StackPlacement) -> dict[str, int]:
    """Devices the stack's deployed model versions take in the pool (as placed)."""
    used: Counter[str] = Counter()
    for model in placement.models:
        if model.kind != "model" or model.pool != pool.name or not model.replicas_placed:
            continue
        slice_name = None if model.slice in ("gpu", "") else model.slice
        used[resource_key(pool, slice_name)] += model.resource_count * model.replicas_placed
    return dict(sorted(used.items()))


def uses_queues(spec: StackSpec) -> bool:
    return spec.queues is not None


def needs_planner(pool: GpuPool, spec: StackSpec) -> bool:
    """Does the pool's capacity or serving use depend on the placement planner's decisions?
    (An auto MIG layout, or a model whose slice the planner picks.)"""
    if pool.mig.policy == "auto":
        return True
    for model in spec.models:
        if model.pool != pool.name:
            continue
        res = model.resources
        parallel = model.serving.tensor_parallel_size * model.serving.pipeline_parallel_size
        if res.auto or (
            not res.gpus and not res.mig_profile and parallel == 1 and pool.mig.policy != "disabled"
        ):
            return True
    return False


def declared_serving(pool: GpuPool, spec: StackSpec) -> dict[str, int]:
    """What the stack's models take in a pool whose placement the stack itself decides."""
    used: Counter[str] = Counter()
    for model in spec.models:
        if model.pool != pool.name:
            continue
        res = model.resources
        parallel = model.serving.tensor_parallel_size * model.serving.pipeline_parallel_size
        key, count = (
            (resource_key(pool, res.mig_profile), 1)
            if res.mig_profile
            else (resource_key(pool, None), res.gpus or parallel)
        )
        for dep in model.deployments:
            replicas = dep.replicas or (
                model.autoscaling.min_replicas if model.autoscaling else model.replicas
            )
            used[key] += count * max(replicas, 0)
    return dict(sorted(used.items()))


def pool_quotas(loaded: LoadedStack, *, solve: bool = True) -> list[PoolQuota]:
    """Every pool's queue, in pool order; empty when the stack has no ``queues`` section.

    Pools without a node count have no known capacity and get no queue. A pool whose use
    depends on the planner (``auto``) is solved for when ``solve``, else left out (validation
    does not run the solver; render and explain do).
    """
    spec = loaded.stack.spec
    if spec.queues is None:
        return []
    planned = [p for p in spec.gpu_pools if needs_planner(p, spec)]
    placement = None
    if planned and solve:
        from aiplane.gpu.from_stack import placement_for_stack

        placement = placement_for_stack(loaded)
    placed = {p.name: p for p in placement.pools} if placement is not None else {}
    out: list[PoolQuota] = []
    for pool in spec.gpu_pools:
        if pool.nodes is None or get_gpu(pool.gpu) is None:
            continue
        if pool in planned and placement is None:
            continue
        capacity = pool_capacity(pool, placed.get(pool.name))
        serving = (
            serving_use(pool, placement)
            if placement is not None and pool in planned
            else declared_serving(pool, spec)
        )
        nominal = {k: max(0, v - serving.get(k, 0)) for k, v in capacity.items()}
        limits = spec.queues.limits(pool.name)
        flavor, cluster_queue, local_queue = queue_names(loaded.stack.metadata.name, pool.name)
        out.append(
            PoolQuota(
                pool=pool.name,
                flavor=flavor,
                cluster_queue=cluster_queue,
                local_queue=local_queue,
                capacity=capacity,
                serving=serving,
                borrowing_limit=limits.borrowing_limit if limits else None,
                lending_limit=limits.lending_limit if limits else None,
                nominal=nominal,
            )
        )
    return out


def request_text(count: int, resource: str) -> str:
    """``16 GPUs`` / ``2 nvidia.com/mig-3g.40gb slices``: a request in words."""
    if resource.startswith(WHOLE_GPU):
        return f"{count} GPU{'s' if count != 1 else ''}"
    return f"{count} {resource} slice{'s' if count != 1 else ''}"


def pod_request(pool: GpuPool | None, gpus: int, mig_profile: str | None) -> tuple[str, int]:
    """(resource, count) one pod asks of the queue."""
    if pool is None:
        return WHOLE_GPU, gpus
    if mig_profile:
        return resource_key(pool, mig_profile), 1
    return resource_key(pool, None), gpus
