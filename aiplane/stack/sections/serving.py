"""``spec.models``: model versions, where each is deployed, and how vLLM serves them."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, model_validator

from aiplane.stack.model_refs import is_registry_source, parse_ref
from aiplane.stack.sections.base import (
    EnvValue,
    Name,
    NonNegativeInt,
    PositiveInt,
    SecretRef,
    ShorthandModel,
    StackModel,
    shorthand,
)

_SOURCE = re.compile(r"^(hf|s3|gs|pvc)://[^\s]+$")


def _check_source(value: str) -> str:
    if is_registry_source(value):
        parse_ref(value)  # raises RefError (a ValueError) at the source's line
        return value
    if not _SOURCE.match(value):
        raise ValueError(
            "not a model source; use hf://org/name, s3://bucket/path, gs://bucket/path, "
            "pvc://claim/path, a registry reference (mlflow://name@alias, mlflow://name/<version>, "
            "models:/name@alias), a SageMaker model package ARN or a W&B registry path"
        )
    return value


SourceUri = Annotated[str, AfterValidator(_check_source)]

Stage = Literal["production", "canary", "shadow"]


class ModelVersion(StackModel):
    """One immutable version of a model's weights."""

    name: str = Field(min_length=1, max_length=40, description="Version label, e.g. v2.1.")
    source: SourceUri
    """Where the weights are: hf://, s3://, gs://, pvc://, or a registry reference
    (mlflow://name@alias, mlflow://name/N, models:/..., a SageMaker package ARN, a W&B path)."""
    registry: Name | None = None
    """Registry of spec.registries resolving a registry reference (default: the default
    registry of the reference's type)."""
    revision: str | None = Field(default=None, description="Git revision or tag of the weights.")
    digest: str | None = Field(default=None, description="Content digest, e.g. sha256:....")


class Deployment(StackModel):
    """Which version runs at which stage, and its share of the model's traffic."""

    version: str
    """A version name from versions."""
    stage: Stage
    """production, canary or shadow."""
    weight: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Percent of the model's traffic (production and canary; they sum to 100).",
    )
    mirror_percent: int | None = Field(
        default=None, ge=1, le=100, description="Shadow only: percent of requests mirrored."
    )
    replicas: PositiveInt | None = Field(
        default=None, description="Overrides the model's replicas."
    )
    promote_alias: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]+$",
        max_length=255,
        description="Registry alias that follows this stage: once the stage is healthy, apply "
        "points the alias at the stage's version (which must be a pinned registry version).",
    )


class Architecture(ShorthandModel):
    """The facts the memory estimate needs, by catalog name or spelled out."""

    shorthand_schema: ClassVar[dict[str, Any]] = {"type": "string"}
    shorthand_description: ClassVar[str] = (
        "A model of the built-in catalog (shorthand for {catalog: <name>})."
    )

    catalog: str | None = Field(default=None, description="A model of the built-in catalog.")
    config_json: str | None = Field(default=None, description="Path of a local HF config.json.")
    parameters_b: float | None = Field(default=None, gt=0, description="Billions of parameters.")
    layers: PositiveInt | None = None
    """Transformer layers."""
    kv_heads: PositiveInt | None = None
    """Key/value heads (grouped-query attention)."""
    head_dim: PositiveInt | None = None
    """Dimension of one attention head."""

    @model_validator(mode="before")
    @classmethod
    def _accept_shorthand(cls, value: Any) -> Any:
        return shorthand("catalog", value)

    @model_validator(mode="after")
    def _one_way(self) -> Architecture:
        explicit = [self.parameters_b, self.layers, self.kv_heads, self.head_dim]
        given = sum(x is not None for x in (self.catalog, self.config_json)) + any(
            x is not None for x in explicit
        )
        if given != 1:
            raise ValueError("give exactly one of catalog, configJson, or the explicit facts")
        if any(x is not None for x in explicit) and any(x is None for x in explicit):
            raise ValueError("explicit architecture needs parametersB, layers, kvHeads and headDim")
        return self


class ModelCache(StackModel):
    """The model cache volume (HF_HOME): an existing claim, or one aiplane creates."""

    claim_name: Name | None = None
    """An existing PersistentVolumeClaim to use."""
    size: str | None = Field(default=None, pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi)$")
    """Create a claim of this size, e.g. 300Gi (named <model>-cache)."""
    storage_class: str | None = None
    """StorageClass of the created claim (default: the cluster's default class)."""
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany"] = "ReadWriteOnce"
    """Access mode of the created claim; ReadWriteMany lets replicas on several nodes share it."""

    @model_validator(mode="after")
    def _one_source(self) -> ModelCache:
        if (self.claim_name is None) == (self.size is None):
            raise ValueError("give exactly one of claimName (existing) or size (created)")
        return self


class Serving(StackModel):
    """Serving engine and the engine arguments that matter."""

    engine: Literal["vllm"] = "vllm"
    """Serving engine (vLLM)."""
    engine_version: str = Field(default="0.33.0", description="vLLM release; pins the image tag.")
    image: str | None = Field(
        default=None, description="Overrides vllm/vllm-openai:v<engineVersion>."
    )
    tensor_parallel_size: PositiveInt = 1
    """GPUs one replica's weights are sharded over (vllm --tensor-parallel-size)."""
    pipeline_parallel_size: PositiveInt = 1
    """Pipeline stages (vllm --pipeline-parallel-size)."""
    max_model_len: PositiveInt | None = None
    """Longest context in tokens (vllm --max-model-len)."""
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    """Fraction of GPU memory vLLM may use (vllm --gpu-memory-utilization)."""
    max_num_seqs: PositiveInt | None = None
    """Sequences batched together (vllm --max-num-seqs)."""
    max_num_batched_tokens: PositiveInt | None = None
    """Tokens per scheduler step (vllm --max-num-batched-tokens)."""
    enable_prefix_caching: bool | None = None
    """Reuse KV cache across shared prefixes."""
    block_size: PositiveInt | None = None
    """KV cache block size in tokens."""
    swap_space_gb: float | None = Field(default=None, ge=0)
    """CPU swap space per GPU in GiB (vLLM 0.17 and older)."""
    quantization: str | None = None
    """Weight quantization, e.g. fp8, awq, gptq."""
    dtype: Literal["auto", "half", "float16", "bfloat16", "float", "float32"] = "auto"
    """Weight and activation dtype."""
    kv_cache_dtype: str = "auto"
    """KV cache dtype, e.g. auto or fp8."""
    extra_args: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="More vllm serve flags: {--flag: value}."
    )
    api_key_secret: SecretRef | None = Field(default=None, description="Secret for VLLM_API_KEY.")
    env: dict[str, EnvValue] = Field(default_factory=dict)
    """Environment of the vLLM container, e.g. HF_TOKEN: {secretRef: {name, key}} for gated models; the model's env wins on a clash."""
    service_account_name: Name | None = None
    """ServiceAccount the pods run as (IRSA / workload identity for s3:// and gs:// sources)."""
    cache: ModelCache | None = None
    """Keep downloaded weights on a PersistentVolumeClaim (default: an emptyDir, refilled on every restart)."""
    metrics: Literal["annotations", "podMonitor", "none"] = "annotations"
    """Prometheus scraping of /metrics: prometheus.io annotations, or also a PodMonitor (Prometheus Operator; aiplane plan/apply leave it out where its CRD is not served), or none."""


class Resources(ShorthandModel):
    """What each replica gets: whole GPUs, a MIG slice, or 'auto' for the planner."""

    shorthand_schema: ClassVar[dict[str, Any]] = {"const": "auto"}
    shorthand_description: ClassVar[str] = "Let the placement planner choose."

    auto: bool = False
    """Let the placement planner choose the slice."""
    gpus: PositiveInt | None = None
    """Whole GPUs per replica."""
    mig_profile: str | None = None
    """One MIG slice per replica, e.g. 3g.40gb."""
    cpu: str | None = None
    """CPU request per replica."""
    memory: str | None = None
    """Memory request per replica."""

    @model_validator(mode="before")
    @classmethod
    def _accept_shorthand(cls, value: Any) -> Any:
        if value == "auto":
            return {"auto": True}
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Resources:
        kinds = [self.auto, self.gpus is not None, self.mig_profile is not None]
        if sum(kinds) != 1:
            raise ValueError("give exactly one of gpus, migProfile or auto")
        return self


class Autoscaling(StackModel):
    min_replicas: PositiveInt = 1
    """Fewest replicas."""
    max_replicas: PositiveInt
    """Most replicas."""
    target_requests_per_replica: PositiveInt | None = Field(
        default=None, description="Running requests per replica (vllm:num_requests_running)."
    )
    target_cpu_percent: PositiveInt | None = None
    """Scale on CPU instead of running requests."""


class Slo(StackModel):
    p99_latency_ms: PositiveInt | None = None
    """Target p99 latency per request."""
    requests_per_second: float | None = Field(default=None, gt=0)
    """Request rate the model must sustain."""


class Model(StackModel):
    """A served model: its versions, where they run, and how."""

    name: Name
    """Model name; routes and pipelines refer to it."""
    architecture: Architecture | None = None
    """Facts for the memory estimate: a catalog name (e.g. Llama-3.1-70B), a configJson path, or explicit numbers."""
    versions: list[ModelVersion] = Field(min_length=1)
    """Every version of the weights that may be deployed."""
    deployments: list[Deployment] = Field(default_factory=list)
    """Which version serves at which stage."""
    serving: Serving = Field(default_factory=Serving)
    """vLLM settings."""
    replicas: NonNegativeInt = 1
    """Replicas per deployed version."""
    autoscaling: Autoscaling | None = None
    """Horizontal autoscaling bounds (replaces replicas)."""
    resources: Resources = Field(default_factory=lambda: Resources(gpus=1))
    """GPUs per replica: {gpus: N}, {migProfile: P} or auto."""
    pool: Name | None = Field(default=None, description="GPU pool; required when GPUs are used.")
    priority: Name | None = None
    """A priority class name."""
    slo: Slo | None = None
    """Latency and throughput goals (used by the planner)."""
    env: dict[str, EnvValue] = Field(default_factory=dict)
    """Extra environment; credentials only as {secretRef: ...}."""

    def version(self, name: str) -> ModelVersion | None:
        return next((v for v in self.versions if v.name == name), None)
