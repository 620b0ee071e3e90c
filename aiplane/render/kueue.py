"""``spec.queues`` → Kueue (``kueue.x-k8s.io/v1beta2``): GPU work waits for quota in a queue.

* one ``ResourceFlavor`` per pool (``<stack>-<pool>``): the pool's node labels, tolerations for
  its taints (Kueue adds them to admitted pods) and the Topology its nodes form;
* one ``ClusterQueue`` per pool (``<stack>-<pool>``) covering the pool's extended resources
  (``nvidia.com/gpu`` and, under the mixed MIG strategy, one ``nvidia.com/mig-<profile>`` each).
  Nominal quota = the pool's capacity minus what the stack's own serving takes (see
  ``aiplane.gpu.queues``). All pools share one cohort so idle quota is borrowed, within the
  stack's ``borrowingLimit``/``lendingLimit``. Only the namespaces the stack runs work in may
  submit. Preemption follows ``spec.priorities.preemption``: lower priorities are preempted
  inside a queue, borrowed quota is reclaimed, and a borrowing workload may preempt lower ones;
* one ``WorkloadPriorityClass`` per priority class (same name and value);
* a ``LocalQueue`` named after each pool in every namespace the stack runs work in;
* ``Topology`` ``<stack>-node`` (``kubernetes.io/hostname``) and, for pools whose nodes carry
  GPU Feature Discovery's ``nvidia.com/gpu.clique`` label (multi-node NVLink), ``<stack>-nvlink``
  (clique, then hostname), so multi-GPU work can require one node or one NVLink domain.

Work opts in with ``queue_labels``: pipeline steps (Kueue's plain-Pod integration) and batch Jobs.
"""

from __future__ import annotations

from aiplane.gpu.queues import PoolQuota, pool_quotas, queue_names
from aiplane.render.common import Context, Obj, tolerations
from aiplane.stack.models import GpuPool

API = "kueue.x-k8s.io/v1beta2"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
REQUIRED_TOPOLOGY = "kueue.x-k8s.io/podset-required-topology"
HOSTNAME = "kubernetes.io/hostname"
CLIQUE = "nvidia.com/gpu.clique"
_CACHE_KEY = "kueue-quotas"


def quotas(ctx: Context) -> list[PoolQuota]:
    """The pools' queues for this render (computed once)."""
    if _CACHE_KEY not in ctx.cache:
        ctx.cache[_CACHE_KEY] = pool_quotas(ctx.loaded)
    found: list[PoolQuota] = ctx.cache[_CACHE_KEY]
    return found


def work_namespaces(ctx: Context) -> list[str]:
    """Namespaces that get LocalQueues: the stack's, the listed ones, and batch jobs'."""
    spec = ctx.loaded.stack.spec
    names = {ctx.namespace, *(spec.queues.namespaces if spec.queues else [])}
    names |= {j.namespace for j in spec.batch_jobs if j.namespace}
    return sorted(names)


def has_clique(pool: GpuPool) -> bool:
    return CLIQUE in pool.labels or CLIQUE in pool.selector()


def topology_name(ctx: Context, pool: GpuPool) -> str:
    return f"{ctx.stack_name}-{'nvlink' if has_clique(pool) else 'node'}"


def render_queues(ctx: Context) -> list[Obj]:
    spec = ctx.loaded.stack.spec
    if spec.queues is None:
        return []
    found = quotas(ctx)
    out: list[Obj] = [_priority_class(ctx, i) for i in range(len(spec.priorities.classes))]
    pools = {p.name: (i, p) for i, p in enumerate(spec.gpu_pools)}
    for quota in found:
        index, pool = pools[quota.pool]
        out.append(_flavor(ctx, index, pool, quota))
        out.append(_cluster_queue(ctx, index, quota))
        for namespace in work_namespaces(ctx):
            out.append(_local_queue(ctx, index, quota, namespace))
    for kind in sorted({topology_name(ctx, pools[q.pool][1]) for q in found}):
        out.append(_topology(ctx, kind))
    _warn_unqueued(ctx, {q.pool for q in found})
    return out


def _warn_unqueued(ctx: Context, queued: set[str]) -> None:
    for index, pool in enumerate(ctx.loaded.stack.spec.gpu_pools):
        if pool.name not in queued:
            ctx.warn(
                ("spec", "gpuPools", index),
                f"pool {pool.name} has no node count, so it gets no queue",
                "set nodes",
            )


def _priority_class(ctx: Context, index: int) -> Obj:
    cls = ctx.loaded.stack.spec.priorities.classes[index]
    obj: Obj = {
        "apiVersion": API,
        "kind": "WorkloadPriorityClass",
        # cluster-wide like the PriorityClass of the same name: shared by field between stacks
        "metadata": ctx.shared_meta(
            cls.name,
            ("spec", "priorities", "classes", index),
            f"priority {cls.name}",
            namespace=None,
        ),
        "value": cls.value,
    }
    if cls.description:
        obj["description"] = cls.description
    return obj


def _flavor(ctx: Context, index: int, pool: GpuPool, quota: PoolQuota) -> Obj:
    spec: Obj = {"nodeLabels": pool.selector(), "topologyName": topology_name(ctx, pool)}
    if pool.taints:
        spec["tolerations"] = tolerations(pool)
    return {
        "apiVersion": API,
        "kind": "ResourceFlavor",
        "metadata": ctx.meta(
            quota.flavor, ("spec", "gpuPools", index), f"queue {pool.name}", namespace=None
        ),
        "spec": spec,
    }


def _resources(quota: PoolQuota) -> list[Obj]:
    out: list[Obj] = []
    # Quantities as strings, as the API server stores them (a number would diff as a change).
    for name, nominal in sorted(quota.nominal.items()):
        item: Obj = {"name": name, "nominalQuota": str(nominal)}
        if quota.borrowing_limit is not None:
            item["borrowingLimit"] = str(quota.borrowing_limit)
        if quota.lending_limit is not None:
            item["lendingLimit"] = str(min(quota.lending_limit, nominal))
        out.append(item)
    return out


def _cluster_queue(ctx: Context, index: int, quota: PoolQuota) -> Obj:
    spec = ctx.loaded.stack.spec
    assert spec.queues is not None
    preempt = spec.priorities.preemption
    return {
        "apiVersion": API,
        "kind": "ClusterQueue",
        "metadata": ctx.meta(
            quota.cluster_queue, ("spec", "gpuPools", index), f"queue {quota.pool}", namespace=None
        ),
        "spec": {
            "cohortName": spec.queues.cohort or ctx.stack_name,
            "namespaceSelector": {
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "In",
                        "values": work_namespaces(ctx),
                    }
                ]
            },
            "queueingStrategy": spec.queues.queueing_strategy,
            "preemption": {
                "withinClusterQueue": "LowerPriority" if preempt else "Never",
                "reclaimWithinCohort": "Any" if preempt else "Never",
                "borrowWithinCohort": {"policy": "LowerPriority" if preempt else "Never"},
            },
            "resourceGroups": [
                {
                    "coveredResources": sorted(quota.nominal),
                    "flavors": [{"name": quota.flavor, "resources": _resources(quota)}],
                }
            ],
        },
    }


def _local_queue(ctx: Context, index: int, quota: PoolQuota, namespace: str) -> Obj:
    return {
        "apiVersion": API,
        "kind": "LocalQueue",
        "metadata": ctx.meta(
            quota.local_queue,
            ("spec", "gpuPools", index),
            f"queue {quota.pool}",
            namespace=namespace,
        ),
        "spec": {"clusterQueue": quota.cluster_queue},
    }


def _topology(ctx: Context, name: str) -> Obj:
    levels = [CLIQUE, HOSTNAME] if name.endswith("-nvlink") else [HOSTNAME]
    return {
        "apiVersion": API,
        "kind": "Topology",
        "metadata": ctx.meta(name, ("spec", "queues"), "queue topology", namespace=None),
        "spec": {"levels": [{"nodeLabel": label} for label in levels]},
    }


def queue_labels(ctx: Context, pool_name: str | None, priority: str | None) -> dict[str, str]:
    """Labels that put a pod (or Job) in its pool's queue, with its Kueue priority; empty when
    the stack has no queues or the pool has none."""
    if ctx.loaded.stack.spec.queues is None or pool_name is None:
        return {}
    if pool_name not in {q.pool for q in quotas(ctx)}:
        return {}
    labels = {QUEUE_LABEL: queue_names(ctx.stack_name, pool_name)[2]}
    if priority:
        labels[PRIORITY_LABEL] = priority
    return labels


def topology_annotations(
    ctx: Context, pool: GpuPool | None, mode: str, total_gpus: int
) -> dict[str, str]:
    """The TAS annotation for work that must stay on one node (or one NVLink clique).

    ``auto``: multi-GPU work that fits one node of the pool is kept on one node, so Kueue admits
    it only where one node has all its GPUs free (and the scheduler cannot split it).
    """
    if pool is None or ctx.loaded.stack.spec.queues is None or mode == "any":
        return {}
    if mode == "auto":
        if not 1 < total_gpus <= pool.gpus_per_node:
            return {}
        mode = "node"
    level = CLIQUE if mode == "nvlink" and has_clique(pool) else HOSTNAME
    return {REQUIRED_TOPOLOGY: level}
