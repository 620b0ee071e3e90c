"""Model checks: versions, stages and weights, pools and priorities. GPU feasibility (does the
model fit its GPU or MIG slice) is ``aiplane.gpu.check_models``."""

from __future__ import annotations

from aiplane.errors import Diagnostic
from aiplane.stack.checks import check_reference, check_unique
from aiplane.stack.loader import LoadedStack
from aiplane.stack.models import Model
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
        found += _check_pool_named(loaded, path, model)
        if model.autoscaling and model.autoscaling.min_replicas > model.autoscaling.max_replicas:
            found.append(
                loaded.diagnostic((*path, "autoscaling"), "minReplicas is above maxReplicas")
            )
    return found


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


def _check_pool_named(loaded: LoadedStack, path: Path, model: Model) -> list[Diagnostic]:
    res = model.resources
    if (res.gpus or res.mig_profile or res.auto) and model.pool is None:
        return [
            loaded.diagnostic(
                (*path, "pool"),
                f"model {model.name} uses GPUs but names no pool",
                "add pool: <name of a gpuPools entry>",
            )
        ]
    return []
