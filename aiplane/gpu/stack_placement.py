"""What ``placement_for_stack`` returns: per pool and per model version, in stack terms, plus
a JSON form for ``aiplane explain --json``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiplane.gpu.problem import GpuAssignment, PlacementPlan

NodeLayout = tuple[tuple[int, tuple[tuple[str, int], ...]], ...]  # (GPU index, profile counts)


@dataclass(frozen=True)
class PoolPlacement:
    name: str
    gpu: str
    mig: str
    capacity: int | None
    gpus_used: int
    lower_bound: int
    layouts: tuple[tuple[str, int], ...]  # layout description → GPUs
    compute_utilisation: float
    node_selector: Mapping[str, str]
    gpus: tuple[GpuAssignment, ...]  # per GPU: node, index, (profile, start) list, tenants

    def mig_devices(self, node: int) -> NodeLayout:
        """(GPU index, sorted profile counts) on one node of the plan; GPUs without MIG (whole
        or unused) are left out. One mig-parted ``devices`` entry per item."""
        out = []
        for gpu in self.gpus:
            if gpu.node == node and gpu.layout:
                counts = Counter(name for name, _s in gpu.layout)
                out.append((gpu.index, tuple(sorted(counts.items()))))
        return tuple(sorted(out))

    def node_layouts(self) -> tuple[tuple[tuple[int, ...], NodeLayout], ...]:
        """Nodes grouped by identical MIG layout: one mig-parted config per group."""
        groups: dict[NodeLayout, list[int]] = {}
        for node in sorted({g.node for g in self.gpus}):
            groups.setdefault(self.mig_devices(node), []).append(node)
        return tuple((tuple(nodes), layout) for layout, nodes in groups.items())


@dataclass(frozen=True)
class ModelPlacement:
    """One deployed model version (or pipeline step) and where its replicas go."""

    kind: Literal["model", "step"]
    name: str  # model or pipeline name
    version: str  # version (models) or step name (steps)
    stage: str
    pool: str
    decided_by: Literal["planner", "stack"]
    slice: str  # MIG profile, or "gpu" for whole GPUs
    resource: str  # nvidia.com/mig-<profile> or nvidia.com/gpu
    resource_count: int
    replicas: int
    replicas_placed: int
    status: str
    reason: str
    node_selector: Mapping[str, str]
    memory_gib: float | None  # estimated per GPU
    capacity_gib: float | None  # memory of the slice or GPU it got
    headroom_gib: float | None  # capacity × utilisation − estimate; negative = does not fit


@dataclass(frozen=True)
class StackPlacement:
    pools: tuple[PoolPlacement, ...]
    models: tuple[ModelPlacement, ...]
    gpus_used: int
    lower_bound: int
    optimal: bool
    method: str
    solve_seconds: float
    plan: PlacementPlan

    @property
    def gap(self) -> int:
        return self.gpus_used - self.lower_bound

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (per-GPU tenants included)."""
        return {
            "gpusUsed": self.gpus_used,
            "lowerBound": self.lower_bound,
            "gap": self.gap,
            "optimal": self.optimal,
            "method": self.method,
            "solveSeconds": self.solve_seconds,
            "pools": [_pool_dict(p) for p in self.pools],
            "models": [_model_dict(m) for m in self.models],
        }


def _pool_dict(pool: PoolPlacement) -> dict[str, Any]:
    return {
        "name": pool.name,
        "gpu": pool.gpu,
        "mig": pool.mig,
        "capacity": pool.capacity,
        "gpusUsed": pool.gpus_used,
        "lowerBound": pool.lower_bound,
        "computeUtilisation": pool.compute_utilisation,
        "layouts": [{"layout": text, "gpus": n} for text, n in pool.layouts],
        "nodeSelector": dict(pool.node_selector),
        "gpus": [
            {
                "node": g.node,
                "index": g.index,
                "mig": [{"profile": n, "start": s} for n, s in g.layout],
                "tenants": list(g.tenants),
            }
            for g in pool.gpus
        ],
    }


def _model_dict(model: ModelPlacement) -> dict[str, Any]:
    return {
        "kind": model.kind,
        "name": model.name,
        "version": model.version,
        "stage": model.stage,
        "pool": model.pool,
        "decidedBy": model.decided_by,
        "slice": model.slice,
        "resource": {model.resource: model.resource_count},
        "replicas": model.replicas,
        "replicasPlaced": model.replicas_placed,
        "status": model.status,
        "reason": model.reason,
        "nodeSelector": dict(model.node_selector),
        "memoryGiB": model.memory_gib,
        "capacityGiB": model.capacity_gib,
        "headroomGiB": model.headroom_gib,
    }
