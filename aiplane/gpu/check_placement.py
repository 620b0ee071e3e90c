"""Placement feasibility as a validation error: over-subscribed pools and model replicas that
cannot be placed, at the pool's or the deployment's line, with the shortfall."""

from __future__ import annotations

from aiplane.errors import Diagnostic
from aiplane.gpu.feasibility import placement_shortfalls
from aiplane.stack.loader import LoadedStack
from aiplane.stack.yamlpos import Path


def check_placement(loaded: LoadedStack) -> list[Diagnostic]:
    """Runs after the other checks pass (it needs known GPUs, pools and memory estimates)."""
    spec = loaded.stack.spec
    pools = {p.name: i for i, p in enumerate(spec.gpu_pools)}
    found: list[Diagnostic] = []
    for short in placement_shortfalls(loaded):
        path: Path = ("spec", "gpuPools", pools.get(short.pool, 0))
        if short.model:
            path = _deployment_path(loaded, short.model, short.version, short.stage)
        elif spec.gpu_pools[pools[short.pool]].nodes is not None:
            path = (*path, "nodes")
        found.append(loaded.diagnostic(path, short.message, short.hint))
    return found


def _deployment_path(loaded: LoadedStack, model: str, version: str, stage: str) -> Path:
    for m_index, entry in enumerate(loaded.stack.spec.models):
        if entry.name != model:
            continue
        for d_index, deployment in enumerate(entry.deployments):
            if deployment.version == version and deployment.stage == stage:
                return ("spec", "models", m_index, "deployments", d_index)
        return ("spec", "models", m_index)
    return ("spec", "models")
