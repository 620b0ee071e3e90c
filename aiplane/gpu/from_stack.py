"""Run the placement planner on a stack: pools from ``spec.gpuPools``, workloads from every
deployed model version and every GPU pipeline step.

Mapping:

* pool ``mig: disabled`` → whole GPUs; ``auto`` → the planner picks layouts; ``explicit`` → the
  ``devices`` layouts, per GPU index on every node (GPUs no entry names stay whole).
* model ``resources: {gpus: N}`` → N whole GPUs per replica (a gang in one node when N > 1);
  ``{migProfile: P}`` → that slice; ``auto`` → the smallest slice whose memory fits the memory
  estimate at the model's ``gpuMemoryUtilization`` (tensor/pipeline parallel > 1: whole GPUs).
  A model whose architecture is unknown gets a whole GPU under ``auto``.
* replicas: the deployment's, else the model's; with autoscaling the minimum (what the
  HorizontalPodAutoscaler keeps running). Scaling out beyond it needs spare slices or GPUs,
  which the pool summary shows as idle instances and unused capacity.
* priority: the value of the named priority class (the global default class, else 0).
* pipeline steps with GPUs become ``batch`` work: placed only while capacity is left.

The latency SLO has no per-slice performance data in a stack, so ``auto`` asks for one compute
slice; per-slice throughput profiles are a planner input (``ThroughputProfile``), not yet a stack
field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from aiplane.gpu.catalog import get_gpu
from aiplane.gpu.problem import (
    WHOLE_GPU,
    PlacementPlan,
    PlacementProblem,
    Pool,
    Workload,
    WorkloadOutcome,
)
from aiplane.gpu.stack_placement import ModelPlacement, PoolPlacement, StackPlacement

if TYPE_CHECKING:
    from aiplane.gpu.memory import MemoryEstimate
    from aiplane.stack.loader import LoadedStack
    from aiplane.stack.models import GpuPool, Model, Stack, StackSpec, Step


@dataclass(frozen=True)
class _Source:
    """Where a planner workload came from, to report it back in stack terms."""

    kind: Literal["model", "step"]
    name: str
    version: str
    stage: str
    pool: str
    decided_by: Literal["planner", "stack"]
    estimate: MemoryEstimate | None
    utilisation: float


def placement_for_stack(
    stack: LoadedStack | Stack, *, time_limit_s: float = 10.0
) -> StackPlacement:
    """Plan GPUs for a (checked) stack. Pass the ``LoadedStack`` so ``configJson`` paths resolve
    relative to the stack file. Solving can take seconds: a command solves once and passes the
    result on (to render and to the capacity summary)."""
    return _place(stack, time_limit_s)


def plan_placement(problem: PlacementProblem, *, time_limit_s: float) -> PlacementPlan:
    """``gpu.planner.plan_placement``, imported on first use: validate settles most stacks by
    counting (``gpu.feasibility``) and must not pay for loading the planner and its solver."""
    from aiplane.gpu.planner import plan_placement as solve

    return solve(problem, time_limit_s=time_limit_s)


def _place(stack: LoadedStack | Stack, time_limit_s: float) -> StackPlacement:
    from aiplane.stack.loader import LoadedStack

    problem, sources = stack_problem(stack)
    plan = plan_placement(problem, time_limit_s=time_limit_s)
    spec = stack.stack.spec if isinstance(stack, LoadedStack) else stack.spec
    return _summarise(spec, plan, list(problem.workloads), sources)


def stack_problem(stack: LoadedStack | Stack) -> tuple[PlacementProblem, list[_Source]]:
    """The planner's input for a stack, unsolved (cheap): pools and one workload per deployed
    model version and GPU pipeline step, with where each came from."""
    from aiplane.stack.loader import LoadedStack

    loaded = stack if isinstance(stack, LoadedStack) else None
    spec = stack.stack.spec if isinstance(stack, LoadedStack) else stack.spec
    pools = tuple(_pool(p) for p in spec.gpu_pools if get_gpu(p.gpu) is not None)
    known = {p.name for p in pools}
    priorities = _priority_values(spec)
    workloads: list[Workload] = []
    sources: list[_Source] = []
    for model in spec.models:
        if model.pool in known:
            for workload, source in _model_workloads(loaded, model, priorities):
                workloads.append(workload)
                sources.append(source)
    for pipeline in spec.pipelines:
        for step in pipeline.steps:
            if step.pool in known and (step.resources.gpus or step.resources.mig_profile):
                workloads.append(_step_workload(pipeline.name, step, priorities))
                sources.append(
                    _Source(
                        "step", pipeline.name, step.name, "", step.pool or "", "stack", None, 1.0
                    )
                )
    return PlacementProblem(tuple(workloads), pools), sources


def _priority_values(spec: StackSpec) -> dict[str | None, int]:
    values: dict[str | None, int] = {c.name: c.value for c in spec.priorities.classes}
    default = next((c.value for c in spec.priorities.classes if c.global_default), 0)
    values[None] = default
    return values


def _pool(pool: GpuPool) -> Pool:
    policy = pool.mig.policy
    if policy != "explicit":
        return Pool(pool.name, pool.gpu, pool.nodes, pool.gpus_per_node, policy)
    per_index: list[dict[str, int]] = [{} for _ in range(pool.gpus_per_node)]
    for entry in pool.mig.devices:
        indices = range(pool.gpus_per_node) if entry.gpus == "all" else entry.gpus
        for i in indices:
            if 0 <= i < pool.gpus_per_node:
                per_index[i] = dict(entry.profiles)
    return Pool(
        pool.name, pool.gpu, pool.nodes, pool.gpus_per_node, "fixed", gpu_layouts=tuple(per_index)
    )


def _model_workloads(
    loaded: LoadedStack | None, model: Model, priorities: Mapping[str | None, int]
) -> list[tuple[Workload, _Source]]:
    estimate = _estimate(loaded, model)
    serving = model.serving
    parallel = serving.tensor_parallel_size * serving.pipeline_parallel_size
    resources = model.resources
    base: dict[str, Any] = {"pools": (model.pool,), "priority": priorities.get(model.priority, 0)}
    if resources.gpus:
        base |= {"gpus": resources.gpus, "slice": WHOLE_GPU}
    elif resources.mig_profile:
        base |= {"slice": resources.mig_profile}
    elif parallel > 1:
        base |= {"gpus": parallel, "slice": WHOLE_GPU}
    elif estimate is None:
        base |= {"slice": WHOLE_GPU}
    else:
        base |= {
            "memory_gib": round(estimate.required_capacity_gib(serving.gpu_memory_utilization), 3)
        }
    decided: Literal["planner", "stack"] = "planner" if resources.auto else "stack"
    out = []
    for dep in model.deployments:
        replicas = dep.replicas or (
            model.autoscaling.min_replicas if model.autoscaling else model.replicas
        )
        if replicas < 1:
            continue
        name = f"{model.name}/{dep.version}/{dep.stage}"
        workload = Workload(name=name, replicas=replicas, **base)
        source = _Source(
            "model",
            model.name,
            dep.version,
            dep.stage,
            model.pool or "",
            decided,
            estimate,
            serving.gpu_memory_utilization,
        )
        out.append((workload, source))
    return out


def _estimate(loaded: LoadedStack | None, model: Model) -> MemoryEstimate | None:
    """The memory estimate, or None when the architecture cannot be resolved."""
    from aiplane.gpu.model_memory import estimate_for

    try:
        return estimate_for(loaded, model)
    except (OSError, ValueError):
        return None


def _step_workload(pipeline: str, step: Step, priorities: Mapping[str | None, int]) -> Workload:
    resources = step.resources
    slice_name = resources.mig_profile or WHOLE_GPU
    gpus = resources.gpus if not resources.mig_profile else 1
    return Workload(
        name=f"{pipeline}/{step.name}",
        kind="batch",
        gpus=max(gpus, 1),
        slice=slice_name,
        pools=(step.pool or "",),
        priority=priorities.get(step.priority, 0),
    )


def _summarise(
    spec: StackSpec, plan: PlacementPlan, workloads: list[Workload], sources: list[_Source]
) -> StackPlacement:
    selectors = {p.name: p.selector() for p in spec.gpu_pools}
    mig = {p.name: p.mig.policy for p in spec.gpu_pools}
    pools = tuple(
        PoolPlacement(
            name=p.name,
            gpu=p.gpu,
            mig=mig.get(p.name, "disabled"),
            capacity=p.capacity,
            gpus_used=p.gpus_used,
            lower_bound=p.lower_bound,
            layouts=p.layouts,
            compute_utilisation=p.compute_utilisation,
            node_selector=selectors.get(p.name, {}),
            gpus=tuple(g for g in plan.gpus if g.pool == p.name),
        )
        for p in plan.pools
    )
    models = tuple(
        _model_placement(plan, workload, source, selectors.get(source.pool, {}))
        for workload, source in zip(workloads, sources, strict=True)
    )
    return StackPlacement(
        pools,
        models,
        plan.gpus_used,
        plan.lower_bound,
        plan.optimal,
        plan.method,
        plan.solve_seconds,
        plan,
    )


def _model_placement(
    plan: PlacementPlan, workload: Workload, source: _Source, selector: Mapping[str, str]
) -> ModelPlacement:
    outcome = plan.workload(workload.name) or WorkloadOutcome(workload.name, "unplaced", 0, 0, ())
    chosen = (
        max(outcome.slices, key=lambda kv: (kv[1], kv[0]))[0]
        if outcome.slices
        else (workload.slice or "")
    )
    gpu = get_gpu(next((p.gpu for p in plan.pools if p.name == source.pool), ""))
    capacity = _capacity(gpu_name=gpu.name if gpu else None, slice_name=chosen)
    resource, count = _resource(
        gpu_name=gpu.name if gpu else None, slice_name=chosen, gpus=workload.gpus
    )
    estimate = source.estimate
    headroom = None
    if estimate is not None and capacity is not None:
        headroom = estimate.fits(capacity, source.utilisation)[1]
    return ModelPlacement(
        kind=source.kind,
        name=source.name,
        version=source.version,
        stage=source.stage,
        pool=source.pool,
        decided_by=source.decided_by,
        slice=chosen,
        resource=resource,
        resource_count=count,
        replicas=outcome.requested,
        replicas_placed=outcome.placed,
        status=outcome.status,
        reason=outcome.reason,
        node_selector=selector,
        memory_gib=estimate.per_gpu_gib if estimate else None,
        capacity_gib=capacity,
        headroom_gib=headroom,
    )


def _capacity(*, gpu_name: str | None, slice_name: str) -> float | None:
    gpu = get_gpu(gpu_name) if gpu_name else None
    if gpu is None or not slice_name:
        return None
    if slice_name == WHOLE_GPU:
        return gpu.memory_gib
    profile = gpu.mig_profiles.get(slice_name)
    return profile.memory_gib if profile else None


def _resource(*, gpu_name: str | None, slice_name: str, gpus: int) -> tuple[str, int]:
    gpu = get_gpu(gpu_name) if gpu_name else None
    profile = gpu.mig_profiles.get(slice_name) if gpu else None
    if profile is not None:
        return profile.resource_name, 1
    return "nvidia.com/gpu", gpus


__all__ = ["ModelPlacement", "PoolPlacement", "StackPlacement", "placement_for_stack"]
