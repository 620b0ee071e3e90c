"""A collection as render hands it to its provider: the typed view of a resource body.

Render (``aiplane/render/vector_collections.py``) writes the body as plain JSON-like data, like a
Kubernetes manifest; the pgvector and Chroma providers read it back with ``CollectionDef``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

ProviderName = Literal["pgvector", "chroma"]

# pgvector's defaults (README of 0.8): an index built without options has these.
PG_DEFAULTS = {"m": 16, "ef_construction": 64, "lists": 100, "ef_search": 40, "probes": 1}


@dataclass(frozen=True)
class Located:
    """Where a part of the stack is, for ``FILE:LINE:COL`` errors raised far from the loader."""

    file: str
    line: int
    column: int
    path: str

    def prefix(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.path}"


@dataclass(frozen=True)
class CollectionDef:
    """One collection as the stack wants it, tagged with the provider that owns it."""

    provider: ProviderName
    stack: str
    name: str
    store: str
    source: str
    """``FILE#Lline`` of the collection, for plan lines."""
    where: Located
    store_where: Located
    connection: dict[str, Any]
    desired: dict[str, Any]
    recreate_on_change: bool
    namespace: str = "default"
    """The stack's namespace: where ``secretRef`` credentials are read from."""

    def to_body(self) -> dict[str, Any]:
        """The plan resource's body (JSON-like; credentials only by their source)."""
        return asdict(self)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> CollectionDef:
        """Read ``to_body``'s form back."""
        fields = dict(body)
        fields["where"] = Located(**fields["where"])
        fields["store_where"] = Located(**fields["store_where"])
        return cls(**fields)
