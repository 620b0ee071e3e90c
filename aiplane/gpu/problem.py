"""Inputs and outputs of the placement planner, as plain frozen values.

A *workload* asks for replicas; each replica is one *unit*: a MIG instance or a whole GPU, or a
*gang* of whole GPUs inside one node (tensor parallel or multi-GPU training). In ParvaGPU mode a
workload instead gives per-slice throughput profiles and a request rate, and the planner picks
how many *segments* (slice + batch + processes) to run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

WorkloadKind = Literal["inference", "training", "batch"]
MigPolicy = Literal["auto", "fixed", "disabled"]
Status = Literal["placed", "partial", "unplaced", "queued"]

WHOLE_GPU = "gpu"  # slice name for a whole GPU with MIG disabled


@dataclass(frozen=True)
class ThroughputProfile:
    """Measured serving performance of one segment configuration (ParvaGPU's profiling rows)."""

    slice: str  # MIG profile name, or WHOLE_GPU
    batch_size: int
    processes: int  # MPS processes sharing the instance
    throughput_rps: float  # of the whole segment (all processes)
    latency_ms: float
    gpu: str | None = None  # GPU model the profile was measured on; None = any pool


@dataclass(frozen=True)
class Workload:
    """Something that needs GPU capacity.

    ``memory_gib`` is the device (or MIG instance) memory one unit needs, i.e. the model's
    per-GPU need divided by its GPU memory utilisation (``MemoryEstimate.required_capacity_gib``).
    ``min_compute_slices`` is the smallest compute share that meets the latency SLO (1 of 7 is
    a ``1g`` instance). ``gpus`` > 1 makes every replica a gang of whole GPUs in one node.
    """

    name: str
    kind: WorkloadKind = "inference"
    memory_gib: float = 0.0
    min_compute_slices: int = 1
    replicas: int = 1
    gpus: int = 1
    priority: int = 0
    pools: tuple[str, ...] = ()  # allowed pools; empty = any
    slice: str | None = None  # pin a MIG profile (or WHOLE_GPU); None = planner decides
    profiles: tuple[ThroughputProfile, ...] = ()
    request_rate: float | None = None  # req/s to serve, with ``profiles``
    latency_slo_ms: float | None = None  # profiles slower than this are not admissible

    @property
    def throughput_mode(self) -> bool:
        return bool(self.profiles) and self.request_rate is not None


@dataclass(frozen=True)
class Pool:
    """Identical GPUs on ``nodes`` nodes; ``nodes=None`` means as many as needed."""

    name: str
    gpu: str
    nodes: int | None = None
    gpus_per_node: int = 8
    mig: MigPolicy = "auto"
    fixed_layout: Mapping[str, int] | None = None  # every GPU's layout when mig == "fixed"
    # mig == "fixed" with differing GPUs: the layout of GPU index i on every node ({} = whole).
    gpu_layouts: tuple[Mapping[str, int], ...] = ()

    @property
    def capacity(self) -> int | None:
        return None if self.nodes is None else self.nodes * self.gpus_per_node


@dataclass(frozen=True)
class PlacementProblem:
    workloads: tuple[Workload, ...]
    pools: tuple[Pool, ...]


@dataclass(frozen=True)
class UnitPlacement:
    """Where one replica, segment or gang runs."""

    workload: str
    index: int
    pool: str
    node: int
    gpus: tuple[int, ...]  # GPU indices within the node
    slice: str
    start: int | None  # memory slot of the MIG instance; None for whole GPUs
    batch_size: int | None = None
    processes: int | None = None
    throughput_rps: float | None = None


@dataclass(frozen=True)
class GpuAssignment:
    """One GPU's configuration and tenants."""

    pool: str
    node: int
    index: int
    layout: tuple[tuple[str, int], ...]  # (profile, start); empty = MIG disabled
    tenants: tuple[str, ...]  # "workload#index" per instance in layout order, "" if idle

    @property
    def mig(self) -> bool:
        return bool(self.layout)


@dataclass(frozen=True)
class WorkloadOutcome:
    name: str
    status: Status
    requested: int  # replicas, or segments chosen in throughput mode
    placed: int
    slices: tuple[tuple[str, int], ...]  # slice → units placed on it
    reason: str = ""
    throughput_rps: float | None = None


@dataclass(frozen=True)
class PoolOutcome:
    name: str
    gpu: str
    capacity: int | None
    gpus_used: int
    lower_bound: int
    layouts: tuple[tuple[str, int], ...]  # layout description → GPUs
    compute_utilisation: float  # compute slices in use / slices on used GPUs


@dataclass(frozen=True)
class PlacementPlan:
    pools: tuple[PoolOutcome, ...]
    workloads: tuple[WorkloadOutcome, ...]
    units: tuple[UnitPlacement, ...]
    gpus: tuple[GpuAssignment, ...]
    gpus_used: int
    lower_bound: int
    optimal: bool
    method: str  # "ilp", "ilp-time-limit", "greedy"
    solve_seconds: float
    notes: tuple[str, ...] = field(default=())

    @property
    def gap(self) -> int:
        return self.gpus_used - self.lower_bound

    def workload(self, name: str) -> WorkloadOutcome | None:
        return next((w for w in self.workloads if w.name == name), None)
