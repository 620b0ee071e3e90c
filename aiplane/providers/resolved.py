"""What a registry reference resolved to: the value render, the lock file and plans share.

Pure data, no I/O, so render can take it without importing any registry client.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class RefKey:
    """A reference as the stack writes it, and the registry that resolves it."""

    registry: str
    reference: str

    def text(self) -> str:
        return f"{self.registry}:{self.reference}"


@dataclass(frozen=True)
class ResolvedVersion:
    """One reference resolved: the version it named at ``resolved_at`` and where its weights are."""

    registry: str
    """Name of the registry in the stack."""
    registry_type: str
    reference: str
    """The source as written, e.g. mlflow://llama@production."""
    model: str
    """Registered model (or package group / collection) name."""
    version: str
    artifact_uri: str
    """Where the weights are (MLflow get-download-uri, SageMaker ModelDataUrl)."""
    alias: str | None = None
    run_id: str | None = None
    status: str = "READY"
    created: str | None = None
    """When the version was registered (ISO 8601, UTC)."""
    last_updated: str | None = None
    """When the registry last changed the version (ISO 8601, UTC); a saved plan pins it."""
    checksum: str | None = None
    """A content digest, where the registry gives one."""
    resolved_at: str = ""

    @property
    def key(self) -> RefKey:
        return RefKey(self.registry, self.reference)

    def same_target(self, other: ResolvedVersion) -> bool:
        """True when both name the same version with the same weights (times aside)."""
        return (self.version, self.artifact_uri, self.checksum) == (
            other.version,
            other.artifact_uri,
            other.checksum,
        )

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResolvedVersion:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def describe(self) -> str:
        """``registered 2026-11-20, run 3f2a91c``: what a plan line says about the version."""
        parts = []
        if self.created:
            parts.append(f"registered {self.created[:10]}")
        if self.run_id:
            parts.append(f"run {self.run_id[:7]}")
        return ", ".join(parts)


def iso_from_millis(millis: int | str | None) -> str | None:
    """MLflow's epoch milliseconds as ISO 8601 UTC (second precision)."""
    if millis in (None, ""):
        return None
    moment = datetime.fromtimestamp(int(millis) / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso() -> str:
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Resolutions = dict[RefKey, ResolvedVersion]


class ResolveError(Exception):
    """A reference that cannot be resolved; the caller locates it at the reference's line."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
