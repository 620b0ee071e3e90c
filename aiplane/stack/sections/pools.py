"""``spec.gpuPools``: GPU node pools with their MIG and time-slicing policy."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from aiplane.stack.sections.base import (
    Name,
    NonNegativeInt,
    PositiveInt,
    ShorthandModel,
    StackModel,
    shorthand,
)
from aiplane.stack.sections.kube import LabelKey, LabelValue


class MigDevices(StackModel):
    """The MIG geometry of some GPUs of every node in the pool (one mig-parted entry)."""

    gpus: Literal["all"] | list[NonNegativeInt] = Field(
        description="GPU indices on each node this entry covers, or 'all'."
    )
    profiles: dict[str, PositiveInt] = Field(
        default_factory=dict,
        description="MIG profile -> count on each of these GPUs, e.g. {3g.40gb: 1, 1g.10gb: 2}. "
        "Empty leaves the GPUs whole (MIG disabled).",
    )


class MigPolicy(ShorthandModel):
    """How the pool's GPUs are partitioned."""

    shorthand_schema: ClassVar[dict[str, Any]] = {"enum": ["disabled", "explicit", "auto"]}
    shorthand_description: ClassVar[str] = "Shorthand for {policy: <value>}."

    policy: Literal["disabled", "explicit", "auto"] = Field(
        default="disabled",
        description="disabled: whole GPUs; explicit: the layout in 'devices'; auto: the planner picks.",
    )
    strategy: Literal["single", "mixed"] = Field(
        default="mixed",
        description="GPU Operator MIG strategy: single (all slices identical) or mixed.",
    )
    config_name: Name | None = Field(
        default=None, description="Name of the mig-parted config; defaults to aiplane-<pool>."
    )
    devices: list[MigDevices] = Field(default_factory=list)
    """Explicit layout: one entry per group of GPUs (mig-parted format)."""

    @model_validator(mode="before")
    @classmethod
    def _accept_shorthand(cls, value: Any) -> Any:
        return shorthand("policy", value)


class TimeSlicing(StackModel):
    """Oversubscribe each GPU (or MIG slice) through the device plugin's time-slicing."""

    name: Name = Field(default="default", description="Device-plugin config name.")
    replicas: int = Field(ge=2, le=64, description="Pods that may share one device.")
    rename_by_default: bool = False
    """Advertise shared devices as <resource>.shared."""
    fail_requests_greater_than_one: bool = False
    """Reject pods that ask for more than one shared device."""


class Taint(StackModel):
    key: LabelKey
    """Taint key."""
    value: LabelValue = ""
    """Taint value."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"
    """Taint effect."""


class GpuPool(StackModel):
    """A group of identical GPU nodes."""

    name: Name
    """Pool name; models and steps refer to it."""
    gpu: str = Field(description="GPU model from the built-in catalog, e.g. A100-80GB, H100-80GB.")
    nodes: NonNegativeInt | None = Field(default=None, description="Number of nodes in the pool.")
    node_selector: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        description="Labels that select the pool's nodes; defaults to aiplane.dev/pool=<name>.",
    )
    gpus_per_node: PositiveInt = Field(default=8)
    """GPUs on each node."""
    mig: MigPolicy = Field(default_factory=MigPolicy)
    """MIG partitioning: disabled, auto, or an explicit layout (a bare string is shorthand for policy)."""
    time_slicing: TimeSlicing | None = None
    """Share each GPU or slice between several pods."""
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    """Extra labels the pool's nodes carry (informational; used in node selectors)."""
    taints: list[Taint] = Field(default_factory=list)
    """Taints on the pool's nodes; workloads get matching tolerations."""
    cost_per_gpu_hour: float | None = Field(default=None, ge=0)
    """USD per GPU-hour, for cost figures in plans."""

    def selector(self) -> dict[str, str]:
        """The labels that pick this pool's nodes."""
        return dict(self.node_selector) or {"aiplane.dev/pool": self.name}

    def mig_config_name(self) -> str:
        return self.mig.config_name or f"aiplane-{self.name}"
