"""``spec.queues`` (GPU queueing with Kueue) and ``spec.batchJobs`` (offline work that queues)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aiplane.stack.sections.base import (
    EnvValue,
    Name,
    NonNegativeInt,
    PositiveInt,
    Quantity,
    StackModel,
)


class PoolQueue(StackModel):
    """Borrowing limits of one pool's ClusterQueue inside the cohort."""

    pool: Name
    """A GPU pool of this stack."""
    borrowing_limit: NonNegativeInt | None = None
    """Most GPUs (or slices) this pool's queue may borrow from idle pools; unset: no limit."""
    lending_limit: NonNegativeInt | None = None
    """Most of this pool's quota other pools may borrow; unset: all of its idle quota."""


class Queues(StackModel):
    """Kueue queues for the GPU pools: one ClusterQueue per pool, all in one cohort."""

    cohort: Name | None = None
    """Cohort the pools' ClusterQueues share for borrowing; defaults to the stack name."""
    queueing_strategy: Literal["BestEffortFIFO", "StrictFIFO"] = "BestEffortFIFO"
    """StrictFIFO: the head of the queue blocks the rest; BestEffortFIFO: smaller work may pass."""
    namespaces: list[Name] = Field(default_factory=list)
    """More namespaces that get LocalQueues (the stack's namespace always does)."""
    pools: list[PoolQueue] = Field(default_factory=list)
    """Per-pool borrowing and lending limits."""

    def limits(self, pool: str) -> PoolQueue | None:
        return next((p for p in self.pools if p.pool == pool), None)


class BatchJob(StackModel):
    """Offline work (batch scoring, evaluation sweeps): a Kubernetes Job that waits in the
    pool's queue until its GPUs are free."""

    name: Name
    """Job name."""
    image: str = Field(min_length=1, description="Container image.")
    command: list[str] = Field(default_factory=list)
    """Container command."""
    args: list[str] = Field(default_factory=list)
    """Container arguments."""
    env: dict[str, EnvValue] = Field(default_factory=dict)
    """Environment; credentials only as {secretRef: ...}."""
    pool: Name | None = None
    """GPU pool the job runs in (required when it uses GPUs)."""
    gpus: NonNegativeInt = 0
    """Whole GPUs per pod."""
    mig_profile: str | None = None
    """One MIG slice per pod instead of whole GPUs."""
    cpu: Quantity | None = None
    """CPU request per pod."""
    memory: Quantity | None = None
    """Memory request and limit per pod."""
    parallelism: PositiveInt = 1
    """Pods that run at once."""
    completions: PositiveInt = 1
    """Successful pods the job needs."""
    priority: Name | None = None
    """A priority class name (also the Kueue WorkloadPriorityClass)."""
    deadline_seconds: PositiveInt | None = None
    """Fail the job after it has run this long (activeDeadlineSeconds)."""
    backoff_limit: NonNegativeInt = 3
    """Pod failures before the job fails."""
    topology: Literal["auto", "node", "nvlink", "any"] = "auto"
    """Where the pods must land together: node (one node), nvlink (one NVLink clique), any;
    auto: one node when the job has more than one GPU and they fit one node."""
    namespace: Name | None = None
    """Namespace of the Job; defaults to the stack's."""
