"""Queued work must fit some quota.

A workload whose request exceeds everything its queue could ever admit (its pool's nominal
quota plus what the cohort can lend) waits forever; that is an error at its line, rather than a
Workload that stays pending in the cluster.
"""

from __future__ import annotations

from aiplane.errors import Diagnostic
from aiplane.gpu.queues import pod_request, pool_quotas, request_text
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
    quotas = pool_quotas(loaded)
    by_pool = {q.pool: q for q in quotas}
    found: list[Diagnostic] = []
    for path, what, pool_name, gpus, profile, pods in _requests(loaded):
        quota = by_pool.get(pool_name or "")
        pool = loaded.stack.spec.pool(pool_name or "")
        if quota is None or pool is None:
            continue
        resource, per_pod = pod_request(pool, gpus, profile)
        need = per_pod * pods
        largest = quota.admissible(resource, quotas)
        if need > largest:
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
