"""GPU feasibility of models: the architecture is known, tensor-parallel size fits the node, and
weights plus KV cache fit the GPU or MIG slice (the memory model is ``gpu.model_memory``)."""

from __future__ import annotations

from pathlib import Path as FsPath

from aiplane.errors import Diagnostic, suggest
from aiplane.gpu.architectures import arch_names, get_arch
from aiplane.gpu.catalog import get_gpu
from aiplane.gpu.model_memory import estimate_for
from aiplane.stack.loader import LoadedStack
from aiplane.stack.models import GpuPool, Model
from aiplane.stack.yamlpos import Path


def check_model_fit(loaded: LoadedStack) -> list[Diagnostic]:
    """Every model's architecture, parallelism and memory against its pool's GPUs."""
    spec = loaded.stack.spec
    found: list[Diagnostic] = []
    for index, model in enumerate(spec.models):
        path: Path = ("spec", "models", index)
        found += _check_architecture(loaded, path, model)
        pool = spec.pool(model.pool) if model.pool else None
        found += _check_resources(loaded, path, model, pool)
    return found


def _check_architecture(loaded: LoadedStack, path: Path, model: Model) -> list[Diagnostic]:
    arch = model.architecture
    if arch is None:
        return []
    if arch.catalog and get_arch(arch.catalog) is None:
        hint = (
            suggest(arch.catalog, arch_names()) or "spell out parametersB, layers, kvHeads, headDim"
        )
        return [loaded.diagnostic((*path, "architecture"), "unknown model architecture", hint)]
    if arch.config_json and not (FsPath(loaded.path).parent / arch.config_json).is_file():
        return [
            loaded.diagnostic(
                (*path, "architecture", "configJson"),
                "config.json not found at this path",
                "paths are relative to the stack file",
            )
        ]
    return []


def _check_resources(
    loaded: LoadedStack, path: Path, model: Model, pool: GpuPool | None
) -> list[Diagnostic]:
    res = model.resources
    if pool is None:
        return []  # no pool named: reported by the stack's model check
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
    gpu = get_gpu(pool.gpu)
    assert gpu is not None and model.resources.mig_profile is not None
    name = model.resources.mig_profile
    here = (*path, "resources", "migProfile")
    profile = gpu.profile(name)
    if profile is None:
        return [
            loaded.diagnostic(
                here,
                f"not a MIG profile of {gpu.name} (pool {pool.name})",
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
