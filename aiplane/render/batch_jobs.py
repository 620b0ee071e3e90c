"""``spec.batchJobs`` → ``batch/v1`` Jobs that wait in their pool's Kueue queue.

With ``spec.queues`` the Job is labelled with its LocalQueue and WorkloadPriorityClass. Kueue's
admission webhook suspends it on creation, unsuspends it when the quota is free and adds the
flavor's node labels and tolerations to its pods. aiplane sends none of those fields (not even
``suspend``): a Job's pod template is immutable once it has started, so an apply that carried a
field Kueue changed would fail (or, forced, replace a running job). Multi-GPU jobs that fit one
node get the topology annotation that makes Kueue admit them only where one node has every GPU
free. Without queues the Job runs at once, pinned to the pool by nodeSelector.
"""

from __future__ import annotations

from aiplane.render.common import Context, Obj, accelerator, quantity, tolerations
from aiplane.render.kueue import queue_labels, topology_annotations
from aiplane.stack.models import BatchJob
from aiplane.stack.sections.base import EnvSource


def render_batch_jobs(ctx: Context) -> list[Obj]:
    return [_job(ctx, i, job) for i, job in enumerate(ctx.loaded.stack.spec.batch_jobs)]


def _env(job: BatchJob) -> list[Obj]:
    env: list[Obj] = []
    for name, value in sorted(job.env.items()):
        if isinstance(value, EnvSource):
            ref = value.secret_ref
            env.append(
                {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}
            )
        elif isinstance(value, bool):
            env.append({"name": name, "value": "true" if value else "false"})
        else:
            env.append({"name": name, "value": str(value)})
    return env


def _resources(ctx: Context, job: BatchJob) -> Obj:
    pool = ctx.loaded.stack.spec.pool(job.pool) if job.pool else None
    limits: Obj = {}
    requests: Obj = {}
    if job.gpus or job.mig_profile:
        key, count = accelerator(pool, job.gpus, job.mig_profile)
        limits[key] = str(count)
    if job.cpu is not None:
        requests["cpu"] = quantity(job.cpu)
    if job.memory is not None:
        requests["memory"] = limits["memory"] = quantity(job.memory)
    out: Obj = {}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return out


def _job(ctx: Context, index: int, job: BatchJob) -> Obj:
    pool = ctx.loaded.stack.spec.pool(job.pool) if job.pool else None
    labels = queue_labels(ctx, job.pool, job.priority)
    queued = bool(labels)
    container: Obj = {"name": "main", "image": job.image}
    if job.command:
        container["command"] = list(job.command)
    if job.args:
        container["args"] = list(job.args)
    if env := _env(job):
        container["env"] = env
    if resources := _resources(ctx, job):
        container["resources"] = resources
    pod: Obj = {"restartPolicy": "Never", "containers": [container]}
    if job.priority:
        pod["priorityClassName"] = job.priority
    if pool is not None and not queued:
        pod["nodeSelector"] = pool.selector()
        if pool.taints:
            pod["tolerations"] = tolerations(pool)
    template: Obj = {"metadata": {"labels": {"aiplane.dev/batch-job": job.name}}, "spec": pod}
    total = (job.gpus or (1 if job.mig_profile else 0)) * job.parallelism
    if notes := topology_annotations(ctx, pool, job.topology, total):
        template["metadata"]["annotations"] = notes
    spec: Obj = {
        "parallelism": job.parallelism,
        "completions": job.completions,
        "backoffLimit": job.backoff_limit,
        "template": template,
    }
    if job.deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = job.deadline_seconds
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": ctx.meta(
            job.name,
            ("spec", "batchJobs", index),
            f"batch job {job.name}",
            namespace=job.namespace or "",
            labels=labels,
        ),
        "spec": spec,
    }
