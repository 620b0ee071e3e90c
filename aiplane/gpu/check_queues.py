"""Queued work must fit some quota.

A workload whose request exceeds everything its queue could ever admit (its pool's nominal
quota plus what the cohort can lend) waits forever; that is an error at its line, rather than a
Workload that stays pending in the cluster.
"""

from __future__ import annotations

from aiplane.errors import Diagnostic
from aiplane.gpu.queues import (
    WHOLE_GPU,
    PoolQuota,
    needs_planner,
    pod_request,
    pool_quotas,
    request_text,
)
from aiplane.stack.loader import LoadedStack
from aiplane.stack.yamlpos import Path


def _requests(loaded: LoadedStack) -> list[tuple[Path, str, str | None, int, str | None, int]]:
    """(path, what, pool, GPUs per pod, MIG profile, pods) of every queued GPU request."""
    spec = loaded.stack.spec
    out: list[tuple[Path, str, str | None, int, str | None, int]] = []
    for p_index, pipeline in enumerate(spec.pipelines):
        for s_index, step in enumerate(pipeline.steps):
            res = step.resources
            if res.gpus or res.mig_profile:
                path: Path = ("spec", "pipelines", p_index, "steps", s_index, "resources")
                what = f"step {pipeline.name}/{step.name}"
                out.append((path, what, step.pool, res.gpus, res.mig_profile, 1))
    for j_index, job in enumerate(spec.batch_jobs):
        if job.gpus or job.mig_profile:
            key = "migProfile" if job.mig_profile else "gpus"
            what = f"batch job {job.name}"
            pods = job.parallelism
            out.append(
                (
                    ("spec", "batchJobs", j_index, key),
                    what,
                    job.pool,
                    job.gpus,
                    job.mig_profile,
                    pods,
                )
            )
    return out


def check_queue_fit(loaded: LoadedStack) -> list[Diagnostic]:
    """Every queued GPU request (pipeline steps, batch jobs) fits its queue's largest quota."""
    if loaded.stack.spec.queues is None:
        return []
    quotas = pool_quotas(loaded, solve=False)  # validation never runs the solver
    by_pool = {q.pool: q for q in quotas}
    found: list[Diagnostic] = []
    for path, what, pool_name, gpus, profile, pods in _requests(loaded):
        quota = by_pool.get(pool_name or "")
        pool = loaded.stack.spec.pool(pool_name or "")
        if quota is None or pool is None:
            continue
        resource, per_pod = pod_request(pool, gpus, profile)
        need = per_pod * pods
        largest = _largest(loaded, quota, resource, quotas)
        if largest is not None and need > largest:
            nominal = quota.nominal.get(resource, 0)
            found.append(
                loaded.diagnostic(
                    path,
                    f"{what} needs {request_text(need, resource)}, the largest quota is "
                    f"{largest} (queue {quota.cluster_queue}: {nominal} nominal"
                    f" + {largest - nominal} borrowable)",
                    "lower the request or parallelism, add nodes to the pool, or raise "
                    "borrowing limits",
                )
            )
    return found


def _largest(
    loaded: LoadedStack, quota: PoolQuota, resource: str, quotas: list[PoolQuota]
) -> int | None:
    """The most the queue can admit; pools the planner decides (left out without the solver)
    may lend at most all their GPUs. None when that bound is unknown (MIG slices of such pools)."""
    spec = loaded.stack.spec
    largest = quota.admissible(resource, quotas)
    planned = [p for p in spec.gpu_pools if needs_planner(p, spec) and p.nodes]
    if not planned or quota.borrowing_limit == 0:
        return largest
    if not resource.startswith(WHOLE_GPU):
        return None
    own = quota.nominal.get(resource, 0)
    borrow = largest - own + sum((p.nodes or 0) * p.gpus_per_node for p in planned)
    if quota.borrowing_limit is not None:
        borrow = min(borrow, quota.borrowing_limit)
    return own + borrow
