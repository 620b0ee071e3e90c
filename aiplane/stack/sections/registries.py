"""``spec.registries``: model registries that version sources and pipelines refer to."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from aiplane.stack.sections.base import Name, SecretRef, StackModel

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HTTP_URI = re.compile(r"^https?://[^\s/]+(/[^\s]*)?$")


def _check_env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(f"'{value}' is not an environment variable name")
    return value


EnvName = Annotated[str, AfterValidator(_check_env_name)]


class RegistryCredentials(StackModel):
    """Where the token comes from: a Secret for pods, an environment variable for the CLI.

    Neither holds the value itself; the stack lives in Git.
    """

    secret_ref: SecretRef | None = None
    """Secret key with the token pipeline steps use (as MLFLOW_TRACKING_TOKEN for MLflow)."""
    env: EnvName | None = None
    """Environment variable the aiplane CLI reads the token from when it resolves references
    (default MLFLOW_TRACKING_TOKEN for MLflow)."""


class RegistryTls(StackModel):
    """How the aiplane CLI checks the registry's TLS certificate."""

    ca_file: str | None = None
    """PEM bundle of the CA that signed the registry's certificate."""
    insecure_skip_verify: bool = False
    """Do not verify the certificate (test setups only)."""


class Registry(StackModel):
    """A model registry: MLflow (resolved), SageMaker (resolved), W&B (checked for form only)."""

    name: Name
    """Registry name; a version's registry field and pipelines' tracking refer to it."""
    type: Literal["mlflow", "sagemaker", "wandb"]
    """mlflow, sagemaker or wandb."""
    uri: str | None = None
    """API endpoint the aiplane CLI resolves references against (MLflow tracking URI; for
    SageMaker an endpoint override; for W&B the server URL)."""
    cluster_uri: str | None = None
    """The same registry as pods reach it (e.g. an in-cluster Service), when it differs."""
    region: str | None = None
    """SageMaker: AWS region."""
    default: bool = False
    """The registry for references of its type that name none (one default per type)."""
    credentials: RegistryCredentials | None = None
    """Token by Secret (pods) and environment variable (CLI)."""
    tls: RegistryTls | None = None
    """TLS settings for the CLI's requests."""

    @model_validator(mode="after")
    def _endpoint(self) -> Registry:
        if self.type == "mlflow" and self.uri is None:
            raise ValueError("an mlflow registry needs uri (its tracking server, http(s)://...)")
        for field, value in (("uri", self.uri), ("clusterUri", self.cluster_uri)):
            if value is None:
                continue
            if not _HTTP_URI.match(value):
                raise ValueError(f"{field} '{value}' is not an http:// or https:// URL")
            if "@" in value.split("://", 1)[1].split("/", 1)[0]:
                # Never echo it: the part before '@' is a credential.
                raise ValueError(
                    f"{field} carries credentials; use credentials.secretRef and credentials.env"
                )
        return self

    def pod_uri(self) -> str | None:
        """The URI pods use."""
        return self.cluster_uri or self.uri


Registries = Annotated[list[Registry], Field(default_factory=list)]
