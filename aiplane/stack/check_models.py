"""Model checks: versions, stages and weights, pools and priorities, and GPU feasibility
(tensor-parallel size fits the node; weights plus KV cache fit the GPU or MIG slice)."""

from __future__ import annotations

from aiplane.errors import Diagnostic
from aiplane.stack.checks import check_reference, check_unique
from aiplane.stack.loader import LoadedStack
from aiplane.stack.models import GpuPool, Model
from aiplane.stack.yamlpos import Path


def check_models(loaded: LoadedStack) -> list[Diagnostic]:
    spec = loaded.stack.spec
    found: list[Diagnostic] = []
    for index, model in enumerate(spec.models):
        path: Path = ("spec", "models", index)
        found += check_unique(loaded, model.versions, (*path, "versions"), "version")
        found += _check_deployments(loaded, path, model)
        found += check_reference(
            loaded, model.pool, [p.name for p in spec.gpu_pools], (*path, "pool"), "pool"
        )
        found += check_reference(
            loaded,
            model.priority,
            [c.name for c in spec.priorities.classes],
            (*path, "priority"),
            "priority class",
        )
        found += _check_architecture(loaded, path, model)
        pool = spec.pool(model.pool) if model.pool else None
        found += _check_resources(loaded, path, model, pool)
        if model.autoscaling and model.autoscaling.min_replicas > model.autoscaling.max_replicas:
            found.append(
                loaded.diagnostic((*path, "autoscaling"), "minReplicas is above maxReplicas")
            )
    return found


def _check_architecture(loaded: LoadedStack, path: Path, model: Model) -> list[Diagnostic]:
    from pathlib import Path as FsPath

    arch = model.architecture
    if arch is None:
        return []
    if arch.catalog:
        from aiplane.errors import suggest
        from aiplane.gpu.architectures import arch_names, get_arch

        if get_arch(arch.catalog) is None:
            hint = (
                suggest(arch.catalog, arch_names())
                or "spell out parametersB, layers, kvHeads, headDim"
            )
            return [
                loaded.diagnostic(
                    (*path, "architecture"), f"unknown model architecture '{arch.catalog}'", hint
                )
            ]
    if arch.config_json and not (FsPath(loaded.path).parent / arch.config_json).is_file():
        return [
            loaded.diagnostic(
                (*path, "architecture", "configJson"),
                f"config.json not found: {arch.config_json}",
                "paths are relative to the stack file",
            )
        ]
    return []


def _check_deployments(loaded: LoadedStack, path: Path, model: Model) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    names = [v.name for v in model.versions]
    stages: dict[str, int] = {}
    for index, deployment in enumerate(model.deployments):
        here = (*path, "deployments", index)
        found += check_reference(
            loaded, deployment.version, names, (*here, "version"), f"version of model {model.name}"
        )
        if deployment.stage in ("production", "canary") and deployment.stage in stages:
            found.append(
                loaded.diagnostic(
                    (*here, "stage"),
                    f"model {model.name} already has a {deployment.stage} deployment "
                    f"(deployments[{stages[deployment.stage]}])",
                )
            )
        stages.setdefault(deployment.stage, index)
        if deployment.stage == "shadow" and deployment.weight:
            found.append(
                loaded.diagnostic(
                    (*here, "weight"),
                    "a shadow deployment takes no traffic weight",
                    "use mirrorPercent to mirror a share of requests",
                )
            )
        if deployment.stage != "shadow" and deployment.mirror_percent is not None:
            found.append(
                loaded.diagnostic(
                    (*here, "mirrorPercent"), "only shadow deployments mirror traffic"
                )
            )
    live = [d for d in model.deployments if d.stage != "shadow"]
    weights = [d.weight for d in live]
    if len(live) > 1 or any(w is not None for w in weights):
        total = sum(w or 0 for w in weights)
        if total != 100:
            found.append(
                loaded.diagnostic(
                    (*path, "deployments"),
                    f"production and canary weights of model {model.name} sum to {total}, not 100",
                    " + ".join(f"{d.version}={d.weight or 0}" for d in live),
                )
            )
    if model.deployments and "production" not in stages and "canary" in stages:
        found.append(
            loaded.diagnostic(
                (*path, "deployments"),
                f"model {model.name} has a canary but no production deployment",
            )
        )
    return found


def _check_resources(
    loaded: LoadedStack, path: Path, model: Model, pool: GpuPool | None
) -> list[Diagnostic]:
    res = model.resources
    if (res.gpus or res.mig_profile or res.auto) and model.pool is None:
        return [
            loaded.diagnostic(
                (*path, "pool"),
                f"model {model.name} uses GPUs but names no pool",
                "add pool: <name of a gpuPools entry>",
            )
        ]
    if pool is None:
        return []
    from aiplane.gpu.catalog import get_gpu

    gpu = get_gpu(pool.gpu)
    if gpu is None:
        return []  # reported by the pool check
    serving = model.serving
    shards = serving.tensor_parallel_size * serving.pipeline_parallel_size
    if res.gpus is not None:
        found = []
        if shards > pool.gpus_per_node:
            found.append(
                loaded.diagnostic(
                    (*path, "serving", "tensorParallelSize"),
                    f"tensor-parallel × pipeline-parallel = {shards} GPUs does not fit a node of pool "
                    f"{pool.name} ({pool.gpus_per_node} GPUs per node)",
                )
            )
        elif res.gpus != shards:
            found.append(
                loaded.diagnostic(
                    (*path, "resources", "gpus"),
                    f"{res.gpus} GPUs per replica, but tensor-parallel × pipeline-parallel is {shards}",
                    f"set gpus: {shards}",
                )
            )
        return found or _check_memory(loaded, path, model, gpu.memory_gib, f"{gpu.name}", shards)
    if res.mig_profile is not None:
        return _check_mig_slice(loaded, path, model, pool)
    return []


def _check_mig_slice(
    loaded: LoadedStack, path: Path, model: Model, pool: GpuPool
) -> list[Diagnostic]:
    from aiplane.errors import suggest
    from aiplane.gpu.catalog import get_gpu

    gpu = get_gpu(pool.gpu)
    assert gpu is not None and model.resources.mig_profile is not None
    name = model.resources.mig_profile
    here = (*path, "resources", "migProfile")
    profile = gpu.profile(name)
    if profile is None:
        return [
            loaded.diagnostic(
                here,
                f"'{name}' is not a MIG profile of {gpu.name} (pool {pool.name})",
                suggest(name, gpu.mig_profiles),
            )
        ]
    if pool.mig.policy == "disabled":
        return [
            loaded.diagnostic(
                here, f"pool {pool.name} has MIG disabled", "set the pool's mig policy"
            )
        ]
    if pool.mig.policy == "explicit" and not any(name in e.profiles for e in pool.mig.devices):
        offered = sorted({p for e in pool.mig.devices for p in e.profiles})
        return [
            loaded.diagnostic(
                here,
                f"pool {pool.name}'s MIG layout has no {name} slice",
                f"the layout offers: {', '.join(offered) or 'no slices'}",
            )
        ]
    if model.serving.tensor_parallel_size > 1:
        return [
            loaded.diagnostic(
                (*path, "serving", "tensorParallelSize"),
                "tensor parallelism across MIG slices is not supported",
                "use whole GPUs",
            )
        ]
    return _check_memory(loaded, path, model, profile.memory_gib, f"a {name} slice", 1)


def _check_memory(
    loaded: LoadedStack, path: Path, model: Model, capacity_gib: float, where: str, shards: int
) -> list[Diagnostic]:
    from aiplane.gpu.model_memory import estimate_for

    estimate = estimate_for(loaded, model)
    if estimate is None:
        return []
    util = model.serving.gpu_memory_utilization
    fits, margin = estimate.fits(capacity_gib, util)
    if fits:
        return []
    need = estimate.per_gpu_gib
    return [
        loaded.diagnostic(
            (*path, "resources"),
            f"model {model.name} needs {need:.1f} GiB per GPU (weights {estimate.weights_gib:.1f} GiB + "
            f"KV cache {estimate.kv_cache_gib:.1f} GiB + overhead {estimate.overhead_gib:.1f} GiB over "
            f"{shards} GPU(s)) but {where} gives {capacity_gib * util:.1f} GiB at "
            f"gpuMemoryUtilization {util}: short by {-margin:.1f} GiB",
            "raise tensorParallelSize, lower maxModelLen, quantize, or use a bigger GPU/slice",
        )
    ]
