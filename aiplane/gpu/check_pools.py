"""GPU pool checks: the GPU exists in the catalog and each MIG layout fits its GPU."""

from __future__ import annotations

from aiplane.errors import Diagnostic, suggest
from aiplane.gpu.catalog import get_gpu, gpu_names
from aiplane.gpu.layouts import check_layout
from aiplane.stack.loader import LoadedStack
from aiplane.stack.models import GpuPool


def check_pools(loaded: LoadedStack) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for index, pool in enumerate(loaded.stack.spec.gpu_pools):
        found += _check_pool(loaded, index, pool)
    return found


def _check_pool(loaded: LoadedStack, index: int, pool: GpuPool) -> list[Diagnostic]:

    path = ("spec", "gpuPools", index)
    gpu = get_gpu(pool.gpu)
    if gpu is None:
        hint = suggest(pool.gpu, gpu_names()) or f"known GPUs: {', '.join(gpu_names())}"
        return [loaded.diagnostic((*path, "gpu"), "unknown GPU model", hint)]
    mig = pool.mig
    if mig.policy != "disabled" and not gpu.mig_capable:
        return [
            loaded.diagnostic(
                (*path, "mig"),
                f"{gpu.name} does not support MIG",
                "set mig: disabled, or use time-slicing",
            )
        ]
    if mig.policy != "explicit":
        if mig.devices:
            return [
                loaded.diagnostic(
                    (*path, "mig", "devices"),
                    f"devices are only used with policy: explicit (policy is {mig.policy})",
                    "set policy: explicit or remove devices",
                )
            ]
        return []
    return _check_layouts(loaded, index, pool)


def _check_layouts(loaded: LoadedStack, index: int, pool: GpuPool) -> list[Diagnostic]:

    gpu = get_gpu(pool.gpu)
    assert gpu is not None
    path = ("spec", "gpuPools", index, "mig", "devices")
    if not pool.mig.devices:
        return [
            loaded.diagnostic(path[:-1], "policy: explicit needs at least one entry in devices")
        ]
    found: list[Diagnostic] = []
    covered: dict[int, int] = {}
    for entry_index, entry in enumerate(pool.mig.devices):
        here = (*path, entry_index)
        indices = range(pool.gpus_per_node) if entry.gpus == "all" else entry.gpus
        for gpu_index in indices:
            if gpu_index >= pool.gpus_per_node:
                found.append(
                    loaded.diagnostic(
                        (*here, "gpus"),
                        f"GPU index {gpu_index} does not exist: the pool has {pool.gpus_per_node} GPUs per node",
                        f"use indices 0..{pool.gpus_per_node - 1}",
                    )
                )
            elif gpu_index in covered:
                found.append(
                    loaded.diagnostic(
                        (*here, "gpus"),
                        f"GPU {gpu_index} is already configured by devices[{covered[gpu_index]}]",
                    )
                )
            else:
                covered[gpu_index] = entry_index
        for profile in entry.profiles:
            if gpu.profile(profile) is None:
                hint = (
                    suggest(profile, gpu.mig_profiles)
                    or f"{gpu.name} profiles: {', '.join(gpu.mig_profiles)}"
                )
                found.append(
                    loaded.diagnostic(
                        (*here, "profiles", profile),
                        f"not a MIG profile of {gpu.name}",
                        hint,
                    )
                )
        if entry.profiles and all(gpu.profile(p) for p in entry.profiles):
            problem = check_layout(gpu, entry.profiles)
            if problem:
                found.append(
                    loaded.diagnostic(
                        (*here, "profiles"), f"layout does not fit one {gpu.name}: {problem}"
                    )
                )
    found += _check_single_strategy(loaded, index, pool)
    return found


def _check_single_strategy(loaded: LoadedStack, index: int, pool: GpuPool) -> list[Diagnostic]:
    # Under the single strategy the device plugin advertises every slice as nvidia.com/gpu, so
    # the slices must be identical and every GPU must be in MIG mode.
    if pool.mig.strategy != "single":
        return []
    profiles = {p for entry in pool.mig.devices for p in entry.profiles}
    whole = any(not entry.profiles for entry in pool.mig.devices)
    if len(profiles) > 1 or whole:
        return [
            loaded.diagnostic(
                ("spec", "gpuPools", index, "mig", "strategy"),
                "strategy single needs one MIG profile on every GPU"
                + (
                    f" (found {', '.join(sorted(profiles))})"
                    if len(profiles) > 1
                    else " (some GPUs are whole)"
                ),
                "use strategy: mixed",
            )
        ]
    return []
