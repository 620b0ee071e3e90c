"""Model-registry references in a version's ``source``: their forms, parsed and checked.

A registry reference names a model version in a registry rather than a storage location; it is
resolved to a version and an artifact URI before render (see ``aiplane/registry``). This module
only knows the written forms, so a malformed reference is an error at its stack line whether or
not the registry can be reached:

* MLflow: ``mlflow://NAME@ALIAS``, ``mlflow://NAME/VERSION``, ``models:/NAME@ALIAS``,
  ``models:/NAME/VERSION``. Aliases follow MLflow's rule (``[A-Za-z0-9_-]``, at most 255
  characters; ``latest`` and ``v<N>`` are reserved). Stages (``models:/NAME/Production``) and
  ``latest`` are refused: they move without a trace, which is what the lock exists to prevent.
* SageMaker: a versioned model package ARN
  ``arn:aws:sagemaker:REGION:ACCOUNT:model-package/GROUP/N``, or a model package group ARN
  ``arn:aws:sagemaker:REGION:ACCOUNT:model-package-group/GROUP``, meaning the latest approved
  package of the group.
* Weights & Biases: ``[ORG/]wandb-registry-REGISTRY/COLLECTION:ALIAS`` (or ``:vN``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

RegistryType = Literal["mlflow", "sagemaker", "wandb"]

_MLFLOW = re.compile(r"^(?:mlflow://|models:/)(?P<rest>.*)$")
_MLFLOW_NAME = re.compile(r"^[^/@\s]{1,256}$")
_ALIAS = re.compile(r"^[\w\-]{1,255}$", re.ASCII)
_RESERVED_ALIAS = re.compile(r"^(latest|[vV]\d+)$")
_STAGES = {"production", "staging", "archived", "none"}
_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+):(?P<account>\d{12}):"
    r"(?P<kind>model-package|model-package-group)/(?P<rest>.+)$"
)
_SM_GROUP = re.compile(r"^[A-Za-z0-9](?:-*[A-Za-z0-9]){0,62}$")
_WANDB = re.compile(
    r"^(?:(?P<org>[\w.-]+)/)?wandb-registry-(?P<registry>[\w.-]+)/(?P<collection>[^/:\s]+)"
    r":(?P<ref>[\w.-]+)$"
)


@dataclass(frozen=True)
class RegistryRef:
    """A parsed registry reference: which model, and an alias or a fixed version."""

    type: RegistryType
    model: str
    """MLflow registered model, SageMaker model package group, or W&B registry/collection."""
    alias: str | None = None
    """Alias (MLflow, W&B), or ``approved`` for a SageMaker group's latest approved package."""
    version: str | None = None
    """A fixed version number (or W&B ``vN``)."""
    region: str | None = None
    """SageMaker: the region in the ARN."""

    @property
    def moving(self) -> bool:
        """True when the reference can point at another version tomorrow (an alias)."""
        return self.alias is not None

    @property
    def selector(self) -> str:
        """``@production`` or ``/7``: the part after the model name, as plan lines show it."""
        return f"@{self.alias}" if self.alias is not None else f"/{self.version}"


class RefError(ValueError):
    """A source that looks like a registry reference but is malformed."""


def is_registry_source(source: str) -> bool:
    """True for every source written in a registry form (well-formed or not)."""
    return (
        source.startswith(("mlflow://", "models:/", "arn:aws"))
        or "wandb-registry-" in source.split(":", 1)[0]
    )


def parse_ref(source: str) -> RegistryRef | None:
    """The registry reference in ``source``; None for a storage URI; ``RefError`` if malformed."""
    match = _MLFLOW.match(source)
    if match:
        return _mlflow(source, match["rest"])
    if source.startswith("arn:"):
        return _sagemaker(source)
    if "wandb-registry-" in source.split(":", 1)[0]:
        return _wandb(source)
    return None


def _mlflow(source: str, rest: str) -> RegistryRef:
    if "@" in rest:
        name, _, alias = rest.partition("@")
        _mlflow_name(source, name)
        if not _ALIAS.match(alias):
            raise RefError(
                f"'{source}': alias '{alias}' is not a valid MLflow alias "
                "(letters, digits, '_' and '-', at most 255 characters)"
            )
        if _RESERVED_ALIAS.match(alias):
            raise RefError(
                f"'{source}': alias '{alias}' is reserved by MLflow (latest and v<N> name "
                f"versions); pin the version instead: {_scheme(source)}{name}/"
                f"{alias.lstrip('vV') if alias.lower() != 'latest' else '<N>'}"
            )
        return RegistryRef("mlflow", name, alias=alias)
    name, slash, version = rest.rpartition("/")
    if not slash:
        raise RefError(
            f"'{source}' names no version; use {_scheme(source)}{rest}@<alias> or "
            f"{_scheme(source)}{rest}/<version>"
        )
    _mlflow_name(source, name)
    if version.lower() == "latest" or version.lower() in _STAGES:
        raise RefError(
            f"'{source}': '{version}' moves without a trace (MLflow stages are deprecated); "
            f"use an alias ({_scheme(source)}{name}@{version.lower()}) or a version number"
        )
    if not version.isdigit() or int(version) < 1:
        raise RefError(f"'{source}': version '{version}' is not a positive version number")
    return RegistryRef("mlflow", name, version=str(int(version)))


def _scheme(source: str) -> str:
    return "mlflow://" if source.startswith("mlflow://") else "models:/"


def _mlflow_name(source: str, name: str) -> None:
    if not _MLFLOW_NAME.match(name):
        raise RefError(f"'{source}': '{name}' is not a registered model name")


def _sagemaker(source: str) -> RegistryRef:
    match = _ARN.match(source)
    if match is None:
        raise RefError(
            f"'{source}' is not a SageMaker model package ARN "
            "(arn:aws:sagemaker:REGION:ACCOUNT:model-package/GROUP/N or "
            "...:model-package-group/GROUP)"
        )
    rest = match["rest"]
    if match["kind"] == "model-package-group":
        _sm_group(source, rest)
        return RegistryRef("sagemaker", rest, alias="approved", region=match["region"])
    group, slash, version = rest.rpartition("/")
    if not slash or not version.isdigit() or int(version) < 1:
        raise RefError(
            f"'{source}': a model package ARN ends in GROUP/VERSION (use the group ARN, "
            "...:model-package-group/GROUP, for its latest approved package)"
        )
    _sm_group(source, group)
    return RegistryRef("sagemaker", group, version=str(int(version)), region=match["region"])


def _sm_group(source: str, group: str) -> None:
    if not _SM_GROUP.match(group):
        raise RefError(f"'{source}': '{group}' is not a model package group name")


def _wandb(source: str) -> RegistryRef:
    match = _WANDB.match(source)
    if match is None:
        raise RefError(
            f"'{source}' is not a W&B registry path ([ORG/]wandb-registry-REGISTRY/COLLECTION:ALIAS)"
        )
    model = f"wandb-registry-{match['registry']}/{match['collection']}"
    ref = match["ref"]
    if re.fullmatch(r"v\d+", ref):
        return RegistryRef("wandb", model, version=ref)
    return RegistryRef("wandb", model, alias=ref)


def resolution_key(registry: str, source: str) -> str:
    """How render looks up a resolved reference: the registry's name and the source as written."""
    return f"{registry}|{source}"
