"""``spec.pipelines``: multi-step training/evaluation/deployment DAGs (rendered for Argo)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from aiplane.stack.sections.base import (
    EnvValue,
    Name,
    NonNegativeInt,
    Quantity,
    StackModel,
)
from aiplane.stack.sections.kube import SubdomainName


class StepResources(StackModel):
    gpus: NonNegativeInt = 0
    """Whole GPUs."""
    mig_profile: str | None = None
    """A MIG slice instead of whole GPUs."""
    cpu: Quantity | None = None
    """CPU limit."""
    memory: Quantity | None = None
    """Memory limit."""


class StepOutput(StackModel):
    """A value the step writes to a file; later steps and conditions read it."""

    name: Name
    """Output name; conditions read it as <step>.<name>."""
    path: str = Field(description="File the step writes the value to.")
    default: str = Field(
        default="", description="Used when the step is skipped, so consumers never fail."
    )


class Retries(StackModel):
    limit: NonNegativeInt = 0
    """Retries after the first attempt."""
    policy: Literal["Always", "OnFailure", "OnError", "OnTransientError"] = "OnFailure"
    """Which failures are retried."""
    backoff_seconds: NonNegativeInt | None = None
    """First wait between attempts."""
    backoff_factor: float | None = Field(default=None, ge=1)
    """Multiplier of the wait after each attempt."""
    max_backoff_seconds: NonNegativeInt | None = None
    """Longest wait between attempts."""


class ModelAction(StackModel):
    """For register/promote steps: which model version moves where."""

    model: Name
    """A model of this stack."""
    version: str = Field(
        description="Version label, or an expression such as '{{steps.training.outputs.version}}'."
    )
    stage: Literal["production", "canary", "shadow", "staging", "archived"] = "production"
    """Stage the version is registered or promoted to."""
    source: str | None = Field(default=None, description="Register only: where the weights are.")


class Step(StackModel):
    """One node of the pipeline's DAG."""

    name: Name
    """Step name; dependsOn and conditions refer to it."""
    kind: Literal["container", "register-model", "promote-model"] = "container"
    """container, or a model registry action."""
    image: str | None = None
    """Container image (container steps)."""
    command: list[str] = Field(default_factory=list)
    """Container command."""
    args: list[str] = Field(default_factory=list)
    """Container arguments."""
    env: dict[str, EnvValue] = Field(default_factory=dict)
    """Environment; credentials only as {secretRef: ...}."""
    parameters: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Inputs passed as AIPLANE_PARAM_<NAME> and --name args."
    )
    resources: StepResources = Field(default_factory=StepResources)
    """GPUs, CPU and memory."""
    pool: Name | None = Field(default=None, description="GPU pool for GPU steps.")
    priority: Name | None = None
    """A priority class name."""
    depends_on: list[Name] = Field(default_factory=list)
    """Steps that must finish first."""
    when: str | None = Field(
        default=None,
        description="Condition on an earlier step's output, e.g. 'evaluation.accuracy > 0.85'.",
    )
    outputs: list[StepOutput] = Field(default_factory=list)
    """Values later steps and conditions can read."""
    retries: Retries | None = None
    """Retry policy."""
    timeout_seconds: NonNegativeInt | None = None
    """Fail the step after this long."""
    sweep: dict[str, list[str | int | float]] = Field(
        default_factory=dict,
        description="Hyperparameter sweep: parameter -> values; one run per combination.",
    )
    model_action: ModelAction | None = Field(
        default=None, description="Required for register-model and promote-model steps."
    )


class Tracking(StackModel):
    """Experiment tracking wired into every step's environment."""

    registry: Name | None = None
    """An mlflow registry of spec.registries: its URI and its credentials Secret."""
    mlflow_tracking_uri: str | None = None
    """MLflow tracking server URL (instead of registry)."""
    experiment: str
    """MLflow experiment name."""

    @model_validator(mode="after")
    def _one_server(self) -> Tracking:
        if (self.registry is None) == (self.mlflow_tracking_uri is None):
            raise ValueError("give exactly one of registry or mlflowTrackingUri")
        return self


class Schedule(StackModel):
    cron: list[str] = Field(min_length=1, description="Cron expressions (Argo 'schedules').")
    timezone: str | None = None
    """IANA time zone of the cron expressions."""
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = "Forbid"
    """What to do when a run is still going."""
    suspend: bool = False
    """Pause the schedule."""


class Pipeline(StackModel):
    name: Name
    """Pipeline name."""
    description: str = ""
    """What the pipeline is for."""
    parameters: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Pipeline-wide parameters (workflow arguments)."
    )
    steps: list[Step] = Field(min_length=1)
    """The DAG's steps."""
    schedule: Schedule | None = None
    """Run on a cron schedule."""
    tracking: Tracking | None = None
    """Experiment tracking for every step."""
    service_account: SubdomainName | None = None
    """Service account the steps run as."""
    ttl_seconds_after_finished: NonNegativeInt = 86_400
    """Delete finished runs after this long."""
