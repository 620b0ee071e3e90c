"""The stack file's schema: a Kubernetes-style object whose ``spec`` describes AI infrastructure.

Every model forbids unknown keys (typos are errors, with "did you mean"), uses camelCase keys in
YAML, and is frozen: a loaded stack is a value the later pipeline steps only read.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aiplane.stack.sections.base import Name, SecretRef, StackModel
from aiplane.stack.sections.collections import Quantization, VectorCollection, VectorIndex
from aiplane.stack.sections.pipelines import (
    ModelAction,
    Pipeline,
    Retries,
    Schedule,
    Step,
    StepOutput,
    StepResources,
    Tracking,
)
from aiplane.stack.sections.pools import GpuPool, MigDevices, MigPolicy, Taint, TimeSlicing
from aiplane.stack.sections.priorities import Priorities, PriorityClass
from aiplane.stack.sections.routes import (
    Backend,
    BackendLimits,
    Connection,
    ExternalTarget,
    Fallback,
    FallbackTriggers,
    GatewayRef,
    HeaderMatch,
    LocalTarget,
    RateLimit,
    RateLimits,
    Route,
    Shadow,
)
from aiplane.stack.sections.serving import (
    Architecture,
    Autoscaling,
    Deployment,
    Model,
    ModelVersion,
    Resources,
    Serving,
    Slo,
)

API_VERSION = "aiplane.dev/v1alpha1"


class Metadata(StackModel):
    name: Name
    namespace: Name = Field(default="default", description="Namespace of namespaced objects.")
    labels: dict[str, str] = Field(default_factory=dict)


class StackSpec(StackModel):
    priorities: Priorities = Field(default_factory=Priorities)
    gpu_pools: list[GpuPool] = Field(default_factory=list)
    models: list[Model] = Field(default_factory=list)
    pipelines: list[Pipeline] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    vector_collections: list[VectorCollection] = Field(default_factory=list)

    def pool(self, name: str) -> GpuPool | None:
        return next((p for p in self.gpu_pools if p.name == name), None)

    def model(self, name: str) -> Model | None:
        return next((m for m in self.models if m.name == name), None)


class Stack(StackModel):
    """The whole stack file."""

    api_version: Literal["aiplane.dev/v1alpha1"]
    kind: Literal["Stack"]
    metadata: Metadata
    spec: StackSpec = Field(default_factory=StackSpec)


__all__ = [
    "API_VERSION",
    "Architecture",
    "Autoscaling",
    "Backend",
    "BackendLimits",
    "Connection",
    "Deployment",
    "ExternalTarget",
    "Fallback",
    "FallbackTriggers",
    "GatewayRef",
    "GpuPool",
    "HeaderMatch",
    "LocalTarget",
    "Metadata",
    "MigDevices",
    "MigPolicy",
    "Model",
    "ModelAction",
    "ModelVersion",
    "Pipeline",
    "Priorities",
    "PriorityClass",
    "Quantization",
    "RateLimit",
    "RateLimits",
    "Resources",
    "Retries",
    "Route",
    "Schedule",
    "SecretRef",
    "Serving",
    "Shadow",
    "Slo",
    "Stack",
    "StackSpec",
    "Step",
    "StepOutput",
    "StepResources",
    "Taint",
    "TimeSlicing",
    "Tracking",
    "VectorCollection",
    "VectorIndex",
]
