"""The stack file's schema: a Kubernetes-style object whose ``spec`` describes AI infrastructure.

Every model forbids unknown keys (typos are errors, with "did you mean"), uses camelCase keys in
YAML, and is frozen: a loaded stack is a value the later pipeline steps only read.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aiplane.stack.sections.base import Name, SecretRef, StackModel
from aiplane.stack.sections.collections import (
    PayloadField,
    Quantization,
    VectorCollection,
    VectorIndex,
)
from aiplane.stack.sections.gateway import GatewaySettings, LiteLLMSettings, RedisSettings
from aiplane.stack.sections.kube import LabelKey, LabelValue
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
from aiplane.stack.sections.queues import BatchJob, PoolQueue, Queues
from aiplane.stack.sections.registries import Registry, RegistryCredentials, RegistryTls
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
    Price,
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
from aiplane.stack.sections.vector_stores import (
    ChromaStore,
    Credential,
    PgvectorStore,
    VectorStore,
)

API_VERSION = "aiplane.dev/v1alpha1"


class Metadata(StackModel):
    """Who the stack is and where its namespaced objects go."""

    name: Name
    """Stack name: owns the rendered objects (label aiplane.dev/stack) and names the lock."""
    namespace: Name = Field(default="default", description="Namespace of namespaced objects.")
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    """Labels added to every rendered object."""


class StackSpec(StackModel):
    """The sections of a stack."""

    priorities: Priorities = Field(default_factory=Priorities)
    """Priority classes (rendered as PriorityClasses)."""
    registries: list[Registry] = Field(default_factory=list)
    """Model registries that registry references resolve against (MLflow, SageMaker, W&B)."""
    gpu_pools: list[GpuPool] = Field(default_factory=list)
    """GPU node pools (rendered for the NVIDIA GPU Operator)."""
    models: list[Model] = Field(default_factory=list)
    """Served models (rendered as vLLM Deployments)."""
    pipelines: list[Pipeline] = Field(default_factory=list)
    """Training and evaluation DAGs (rendered as Argo WorkflowTemplates)."""
    routes: list[Route] = Field(default_factory=list)
    """Traffic routes (rendered for Gateway API and Envoy AI Gateway)."""
    vector_stores: list[VectorStore] = Field(default_factory=list)
    """Databases that hold collections (PostgreSQL + pgvector, Chroma)."""
    vector_collections: list[VectorCollection] = Field(default_factory=list)
    """Vector collections: applied to a store, or rendered as Qdrant collection documents."""
    queues: Queues | None = None
    """GPU queueing with Kueue: per-pool ClusterQueues, LocalQueues, priorities, topology."""
    batch_jobs: list[BatchJob] = Field(default_factory=list)
    """Offline GPU work (rendered as Jobs that wait in the pool's queue)."""
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    """The AI gateway that enforces route policy (LiteLLM or Envoy AI Gateway)."""

    def pool(self, name: str) -> GpuPool | None:
        return next((p for p in self.gpu_pools if p.name == name), None)

    def model(self, name: str) -> Model | None:
        return next((m for m in self.models if m.name == name), None)

    def registry(self, name: str) -> Registry | None:
        return next((r for r in self.registries if r.name == name), None)

    def default_registry(self, kind: str) -> Registry | None:
        """The registry of type ``kind`` marked default, or the only one of that type."""
        of_kind = [r for r in self.registries if r.type == kind]
        marked = [r for r in of_kind if r.default]
        if marked:
            return marked[0]
        return of_kind[0] if len(of_kind) == 1 else None

    def vector_store(self, name: str) -> VectorStore | None:
        return next((s for s in self.vector_stores if s.name == name), None)


class Stack(StackModel):
    """The whole stack file."""

    api_version: Literal["aiplane.dev/v1alpha1"]
    """Always aiplane.dev/v1alpha1."""
    kind: Literal["Stack"]
    """Always Stack."""
    metadata: Metadata
    """Name, namespace and labels."""
    spec: StackSpec = Field(default_factory=StackSpec)
    """What the stack contains; every section is optional."""


__all__ = [
    "API_VERSION",
    "Architecture",
    "Autoscaling",
    "Backend",
    "BackendLimits",
    "BatchJob",
    "ChromaStore",
    "Connection",
    "Credential",
    "Deployment",
    "ExternalTarget",
    "Fallback",
    "FallbackTriggers",
    "GatewayRef",
    "GatewaySettings",
    "GpuPool",
    "HeaderMatch",
    "LiteLLMSettings",
    "LocalTarget",
    "Metadata",
    "MigDevices",
    "MigPolicy",
    "Model",
    "ModelAction",
    "ModelVersion",
    "PayloadField",
    "PgvectorStore",
    "Pipeline",
    "PoolQueue",
    "Price",
    "Priorities",
    "PriorityClass",
    "Quantization",
    "Queues",
    "RateLimit",
    "RateLimits",
    "RedisSettings",
    "Registry",
    "RegistryCredentials",
    "RegistryTls",
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
    "VectorStore",
]
