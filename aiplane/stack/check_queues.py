"""Queue and batch-job references: pools and priorities that exist, one kind of GPU request.
(Whether a request fits a quota is a GPU check: ``aiplane.gpu.check_queues``.)"""

from __future__ import annotations

from aiplane.errors import Diagnostic
from aiplane.stack.checks import check_reference, check_unique
from aiplane.stack.loader import LoadedStack
from aiplane.stack.yamlpos import Path


def check_queues(loaded: LoadedStack) -> list[Diagnostic]:
    spec = loaded.stack.spec
    pools = [p.name for p in spec.gpu_pools]
    classes = [c.name for c in spec.priorities.classes]
    found = check_unique(loaded, spec.batch_jobs, ("spec", "batchJobs"), "batch job")
    if spec.queues is not None:
        for index, limits in enumerate(spec.queues.pools):
            at = ("spec", "queues", "pools", index, "pool")
            found += check_reference(loaded, limits.pool, pools, at, "pool")
    for index, job in enumerate(spec.batch_jobs):
        path: Path = ("spec", "batchJobs", index)
        found += check_reference(loaded, job.pool, pools, (*path, "pool"), "pool")
        found += check_reference(loaded, job.priority, classes, (*path, "priority"), "priority")
        if job.gpus and job.mig_profile:
            found.append(
                loaded.diagnostic(
                    (*path, "migProfile"),
                    f"batch job {job.name} asks for both gpus and migProfile",
                    "use one of them",
                )
            )
        elif (job.gpus or job.mig_profile) and job.pool is None:
            found.append(
                loaded.diagnostic(
                    (*path, "pool"), f"batch job {job.name} uses GPUs but names no pool", "set pool"
                )
            )
    return found
