"""Resolve an MLflow reference to a version: alias or number → version, artifact URI, run, status.

The artifact URI is the one ``model-versions/get-download-uri`` returns, i.e. where the weights
really are (``s3://...``, ``mlflow-artifacts:/...``), not the ``models:/`` indirection. A version
whose status is not READY cannot be served and is an error carrying MLflow's status message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from aiplane.providers.mlflow.client import MlflowClient, MlflowError
from aiplane.providers.resolved import ResolvedVersion, ResolveError, iso_from_millis, now_iso

TOKEN_ENV = "MLFLOW_TRACKING_TOKEN"


@dataclass(frozen=True)
class MlflowRef:
    """A parsed reference: the registered model and an alias or a version number."""

    model: str
    alias: str | None = None
    version: str | None = None


def client_for(
    uri: str, *, token_env: str | None, ca_file: str | None, insecure: bool
) -> MlflowClient:
    """A client for the registry at ``uri``; the token is read from ``token_env`` (default
    MLFLOW_TRACKING_TOKEN) in the CLI's environment, never from the stack."""
    verify: bool | str = ca_file or not insecure
    return MlflowClient(uri, token=os.environ.get(token_env or TOKEN_ENV) or None, verify=verify)


def resolve(client: MlflowClient, registry: str, ref: MlflowRef, reference: str) -> ResolvedVersion:
    """``reference`` (already parsed as ``ref``) as the registry answers now."""
    subject = f"mlflow model {ref.model}"
    try:
        if ref.alias is not None:
            found = client.alias_version(ref.model, ref.alias)
        else:
            found = client.model_version(ref.model, ref.version or "")
    except MlflowError as exc:
        raise _explain(client, subject, ref, exc) from None
    version = str(found.get("version") or "")
    status = str(found.get("status") or "READY")
    if status != "READY":
        message = str(found.get("status_message") or "").strip() or "no status message"
        raise ResolveError(
            f"{subject} version {version} is {status}: {message}",
            "only READY versions can be served; register it again or pick another version",
        )
    try:
        artifact = client.download_uri(ref.model, version)
    except MlflowError as exc:
        raise ResolveError(f"{subject} version {version}: {exc}") from None
    return ResolvedVersion(
        registry=registry,
        registry_type="mlflow",
        reference=reference,
        model=ref.model,
        version=version,
        artifact_uri=artifact or str(found.get("source") or ""),
        alias=ref.alias,
        run_id=str(found.get("run_id") or "") or None,
        status=status,
        created=iso_from_millis(found.get("creation_timestamp")),
        last_updated=iso_from_millis(found.get("last_updated_timestamp")),
        checksum=_checksum(found),
        resolved_at=now_iso(),
    )


def current_version(client: MlflowClient, ref: MlflowRef) -> str:
    """The version an alias names right now (for staleness checks); ``ResolveError`` if gone."""
    try:
        return str(client.alias_version(ref.model, ref.alias or "").get("version") or "")
    except MlflowError as exc:
        raise _explain(client, f"mlflow model {ref.model}", ref, exc) from None


def _checksum(version: dict[str, Any]) -> str | None:
    # MLflow keeps no content digest; a tag of that name (set by a registering pipeline) is used.
    for tag in version.get("tags") or []:
        if tag.get("key") in ("aiplane.checksum", "checksum", "sha256"):
            return str(tag.get("value"))
    return None


def _explain(client: MlflowClient, subject: str, ref: MlflowRef, exc: MlflowError) -> ResolveError:
    """Turn a failed lookup into what the user must know: which model or alias is missing."""
    if exc.status == 0 or exc.status >= 500 or exc.status in (401, 403):
        return ResolveError(str(exc))
    try:
        aliases = client.aliases(ref.model)
    except MlflowError as again:
        if again.not_found:
            return ResolveError(
                f"{subject} does not exist in {client.uri}", "check the registered model name"
            )
        return ResolveError(str(exc))
    listed = ", ".join(f"{a} -> {v}" for a, v in sorted(aliases.items())) or "none"
    if ref.alias is not None:
        return ResolveError(f"{subject} has no alias '{ref.alias}'", f"its aliases: {listed}")
    return ResolveError(
        f"{subject} has no version {ref.version}", f"{exc.code or exc.status}; aliases: {listed}"
    )
