"""``spec.priorities``: named priority classes rendered as PriorityClasses."""

from __future__ import annotations

from pydantic import Field

from aiplane.stack.sections.base import StackModel
from aiplane.stack.sections.kube import UnreservedPriorityName


class PriorityClass(StackModel):
    """One named priority; workloads refer to it by name."""

    name: UnreservedPriorityName
    """Name workloads use in their priority field."""
    value: int = Field(ge=-2_147_483_648, le=1_000_000_000, description="Higher wins.")
    preemption: bool | None = Field(
        default=None,
        description="May workloads of this class preempt lower ones? Defaults to spec.priorities.preemption.",
    )
    description: str = ""
    """Free text shown by kubectl."""
    global_default: bool = False
    """Pods without a priority get this class (at most one class)."""


class Priorities(StackModel):
    """Priority classes and the stack-wide preemption default."""

    preemption: bool = Field(default=True, description="Default for classes that do not say.")
    classes: list[PriorityClass] = Field(default_factory=list)
    """The named priority classes."""
