"""``spec.pipelines``: multi-step training/evaluation/deployment DAGs (rendered for Argo)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aiplane.stack.sections.base import (
    EnvValue,
    Name,
    NonNegativeInt,
    Quantity,
    StackModel,
)


class StepResources(StackModel):
    gpus: NonNegativeInt = 0
    mig_profile: str | None = None
    cpu: Quantity | None = None
    memory: Quantity | None = None


class StepOutput(StackModel):
    """A value the step writes to a file; later steps and conditions read it."""

    name: Name
    path: str = Field(description="File the step writes the value to.")
    default: str = Field(
        default="", description="Used when the step is skipped, so consumers never fail."
    )


class Retries(StackModel):
    limit: NonNegativeInt = 0
    policy: Literal["Always", "OnFailure", "OnError", "OnTransientError"] = "OnFailure"
    backoff_seconds: NonNegativeInt | None = None
    backoff_factor: float | None = Field(default=None, ge=1)
    max_backoff_seconds: NonNegativeInt | None = None


class ModelAction(StackModel):
    """For register/promote steps: which model version moves where."""

    model: Name
    version: str = Field(
        description="Version label, or an expression such as '{{steps.training.outputs.version}}'."
    )
    stage: Literal["production", "canary", "shadow", "staging", "archived"] = "production"
    source: str | None = Field(default=None, description="Register only: where the weights are.")


class Step(StackModel):
    """One node of the pipeline's DAG."""

    name: Name
    kind: Literal["container", "register-model", "promote-model"] = "container"
    image: str | None = None
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    env: dict[str, EnvValue] = Field(default_factory=dict)
    parameters: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Inputs passed as AIPLANE_PARAM_<NAME> and --name args."
    )
    resources: StepResources = Field(default_factory=StepResources)
    pool: Name | None = Field(default=None, description="GPU pool for GPU steps.")
    priority: Name | None = None
    depends_on: list[Name] = Field(default_factory=list)
    when: str | None = Field(
        default=None,
        description="Condition on an earlier step's output, e.g. 'evaluation.accuracy > 0.85'.",
    )
    outputs: list[StepOutput] = Field(default_factory=list)
    retries: Retries | None = None
    timeout_seconds: NonNegativeInt | None = None
    sweep: dict[str, list[str | int | float]] = Field(
        default_factory=dict,
        description="Hyperparameter sweep: parameter -> values; one run per combination.",
    )
    model_action: ModelAction | None = Field(
        default=None, description="Required for register-model and promote-model steps."
    )


class Tracking(StackModel):
    """Experiment tracking wired into every step's environment."""

    mlflow_tracking_uri: str
    experiment: str


class Schedule(StackModel):
    cron: list[str] = Field(min_length=1, description="Cron expressions (Argo 'schedules').")
    timezone: str | None = None
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = "Forbid"
    suspend: bool = False


class Pipeline(StackModel):
    name: Name
    description: str = ""
    parameters: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Pipeline-wide parameters (workflow arguments)."
    )
    steps: list[Step] = Field(min_length=1)
    schedule: Schedule | None = None
    tracking: Tracking | None = None
    service_account: str | None = None
    ttl_seconds_after_finished: NonNegativeInt = 86_400
