"""``spec.vectorStores``: the databases collections live in, and how aiplane reaches them.

A store is named once and collections refer to it (``store: pg-main``), so connection details
and credentials are written in one place. Credentials are never literal: a password or token is
``{env: NAME}`` (read from aiplane's environment at plan time) or ``{secretRef: {name, key}}``
(read from the stack namespace's Secret).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from aiplane.stack.sections.base import Name, SecretRef, StackModel


class Credential(StackModel):
    """Where a password or token comes from: an environment variable or a Kubernetes Secret."""

    env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """Environment variable holding the value (read where aiplane runs)."""
    secret_ref: SecretRef | None = None
    """Secret and key holding the value (read from the stack's namespace)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Credential:
        if (self.env is None) == (self.secret_ref is None):
            raise ValueError("give exactly one of env or secretRef")
        return self


class PgvectorStore(StackModel):
    """A PostgreSQL database with the pgvector extension."""

    host: str = Field(min_length=1, description="Server host name or address.")
    port: int = Field(default=5432, ge=1, le=65_535)
    """Server port."""
    database: str = Field(min_length=1, description="Database name.")
    user: str = Field(min_length=1, description="Role aiplane connects as.")
    password: Credential | None = None
    """Password source; without it libpq's own sources apply (PGPASSWORD, ~/.pgpass)."""
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    """libpq TLS mode."""
    schema_name: str = Field(default="public", alias="schema", min_length=1)
    """Schema the collection tables live in."""
    connect_timeout_seconds: int = Field(default=5, ge=1, le=300)
    """Give up connecting after this long."""
    maintenance_work_mem: str | None = Field(default=None, pattern=r"^[0-9]+(kB|MB|GB)$")
    """maintenance_work_mem for index builds, e.g. 512MB (the server default otherwise)."""


class ChromaStore(StackModel):
    """A Chroma server reached over its HTTP API (v2)."""

    url: str = Field(pattern=r"^https?://", description="Base URL, e.g. http://chroma:8000.")
    tenant: str = Field(default="default_tenant", min_length=1)
    """Chroma tenant."""
    database: str = Field(default="default_database", min_length=1)
    """Chroma database inside the tenant."""
    token: Credential | None = None
    """Bearer token source, when the server requires one."""
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """HTTP timeout per request."""


class VectorStore(StackModel):
    """One database holding collections: exactly one of ``pgvector`` or ``chroma``."""

    name: Name
    """Store name; collections refer to it with ``store:``."""
    pgvector: PgvectorStore | None = None
    """PostgreSQL + pgvector connection."""
    chroma: ChromaStore | None = None
    """Chroma server connection."""

    @model_validator(mode="after")
    def _exactly_one(self) -> VectorStore:
        if (self.pgvector is None) == (self.chroma is None):
            raise ValueError("give exactly one of pgvector or chroma")
        return self

    @property
    def kind(self) -> Literal["pgvector", "chroma"]:
        """Which provider serves this store."""
        return "pgvector" if self.pgvector is not None else "chroma"
