"""GPU capacity in a plan: what the stack asks of each pool, and what a change does to it.

A plan that only lists Kubernetes objects cannot say "this change needs four more H100s". This
module turns the placement planner's result into a small frozen summary per pool (GPUs used, the
proven lower bound, compute utilisation, cost per hour) plus the workloads that do not fit, and
compares two summaries so plan output can show the delta.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiplane.gpu.stack_placement import StackPlacement
    from aiplane.stack.loader import LoadedStack


@dataclass(frozen=True)
class PoolCapacity:
    """One pool's share of the placement."""

    pool: str
    gpu: str
    gpus_used: int
    gpus_total: int | None
    lower_bound: int
    compute_utilisation: float
    cost_per_hour: float | None

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> PoolCapacity:
        return cls(**{k: doc[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Capacity:
    """The stack's GPU needs: per pool, and the workloads the pools cannot hold."""

    pools: tuple[PoolCapacity, ...] = ()
    short: tuple[str, ...] = ()
    """Workloads the pools cannot hold: "short: ..." (never placed) or "queued: ..." (batch)."""

    def to_json(self) -> dict[str, Any]:
        return {"pools": [asdict(p) for p in self.pools], "short": list(self.short)}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any] | None) -> Capacity | None:
        if not doc:
            return None
        pools = tuple(PoolCapacity.from_json(p) for p in doc.get("pools", []))
        return cls(pools, tuple(doc.get("short", [])))


def capacity_of(loaded: LoadedStack, placement: StackPlacement | None = None) -> Capacity | None:
    """The stack's capacity summary, or None when it has no GPU pools (``placement``: the
    command's solved placement; solved here when not given)."""
    spec = loaded.stack.spec
    if not spec.gpu_pools:
        return None
    if placement is None:
        from aiplane.gpu.from_stack import placement_for_stack

        placement = placement_for_stack(loaded)
    costs = {p.name: p.cost_per_gpu_hour for p in spec.gpu_pools}
    pools = tuple(
        PoolCapacity(
            pool=p.name,
            gpu=p.gpu,
            gpus_used=p.gpus_used,
            gpus_total=p.capacity,
            lower_bound=p.lower_bound,
            compute_utilisation=round(p.compute_utilisation, 4),
            cost_per_hour=_cost(costs.get(p.name), p.gpus_used),
        )
        for p in placement.pools
    )
    short = tuple(
        f"{'queued' if m.status == 'queued' else 'short'}: {m.kind} {m.name} {m.version}: "
        f"{m.replicas_placed} of {m.replicas} placed in pool {m.pool} ({m.reason or m.status})"
        for m in placement.models
        if m.replicas_placed < m.replicas
    )
    return Capacity(pools, short)


def _cost(per_gpu_hour: float | None, gpus: int) -> float | None:
    return round(per_gpu_hour * gpus, 2) if per_gpu_hour is not None else None


def capacity_lines(after: Capacity, before: Capacity | None = None) -> list[str]:
    """One line per pool (with the change against ``before`` when given), then the shortfalls."""
    old = {p.pool: p for p in before.pools} if before else {}
    lines = [_pool_line(p, old.get(p.pool), before is not None) for p in after.pools]
    gone = [name for name in old if name not in {p.pool for p in after.pools}]
    lines += [f"pool {name}: removed (was {old[name].gpus_used} GPUs)" for name in gone]
    lines += list(after.short)
    return lines


def _pool_line(now: PoolCapacity, was: PoolCapacity | None, compare: bool) -> str:
    total = f" of {now.gpus_total}" if now.gpus_total is not None else ""
    used = f"{now.gpus_used}{total} {now.gpu} GPUs"
    if compare and was is None:
        used += " (new pool)"
    elif was is not None and was.gpus_used != now.gpus_used:
        used = f"{was.gpus_used} -> {used} ({now.gpus_used - was.gpus_used:+d})"
    text = f"pool {now.pool}: {used}, lower bound {now.lower_bound}, "
    text += f"compute {now.compute_utilisation:.0%}"
    if now.cost_per_hour is not None:
        text += f", ${now.cost_per_hour:,.2f}/h"
        if (
            was is not None
            and was.cost_per_hour is not None
            and was.cost_per_hour != now.cost_per_hour
        ):
            text += f" ({now.cost_per_hour - was.cost_per_hour:+,.2f}/h)"
    return text
