"""``spec.vectorCollections``: vector database collections and their index parameters.

A collection either names a store of ``spec.vectorStores`` (``store:``; pgvector or Chroma, planned
and applied against the live database) or, for Qdrant, an ``endpoint`` (rendered as a document
only: no Qdrant server can be run by the test suite, so no Qdrant provider is claimed).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aiplane.stack.sections.base import Name, PositiveInt, SecretRef, StackModel


class VectorIndex(StackModel):
    type: Literal["hnsw", "ivf"] = "hnsw"
    """hnsw or ivf."""
    m: PositiveInt | None = Field(default=None, description="HNSW: edges per node.")
    ef_construct: PositiveInt | None = Field(default=None, description="HNSW: build-time beam.")
    full_scan_threshold: PositiveInt | None = None
    """HNSW: below this many vectors, search by full scan."""
    nlist: PositiveInt | None = Field(
        default=None, description="IVF: number of clusters (pgvector: lists)."
    )
    ef_search: PositiveInt | None = None
    """HNSW query-time beam (pgvector hnsw.ef_search, recorded for clients; Chroma ef_search)."""
    probes: PositiveInt | None = None
    """IVF query-time lists probed (pgvector ivfflat.probes, recorded for clients)."""


class Quantization(StackModel):
    type: Literal["scalar", "product", "binary"]
    """scalar, product or binary."""
    quantile: float | None = Field(default=None, gt=0, le=1)
    """Scalar: quantile for the value range."""
    compression: Literal["x4", "x8", "x16", "x32", "x64"] | None = None
    """Product: compression ratio."""
    always_ram: bool | None = None
    """Keep quantized vectors in RAM."""


PayloadType = Literal["text", "integer", "bigint", "double", "boolean", "jsonb", "timestamptz"]


class PayloadField(StackModel):
    """A payload column stored beside each vector (pgvector)."""

    name: str = Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="Column name.")
    type: PayloadType = "text"
    """Column type."""


class VectorCollection(StackModel):
    name: Name
    """Collection name (pgvector: the table name, '-' becoming '_')."""
    store: Name | None = None
    """A store of spec.vectorStores (pgvector or Chroma) where aiplane plans and applies it."""
    backend: Literal["qdrant", "milvus"] | None = None
    """Vector database when no store is named (rendered only; defaults to qdrant)."""
    endpoint: str | None = Field(
        default=None, description="Base URL of the vector database, e.g. http://qdrant:6333."
    )
    api_key_secret: SecretRef | None = None
    """Secret holding the database API key."""
    dimension: int = Field(gt=0, le=65_536)
    """Vector size (immutable after creation)."""
    distance: Literal["cosine", "dot", "euclid", "manhattan"] = "cosine"
    """Distance metric (immutable after creation)."""
    index: VectorIndex = Field(default_factory=VectorIndex)
    """Index parameters."""
    shards: PositiveInt = 1
    """Shard count (immutable after creation)."""
    replication: PositiveInt = 1
    """Copies of each shard."""
    on_disk: bool = False
    """Store vectors on disk."""
    payload_on_disk: bool = False
    """Store payloads on disk."""
    quantization: Quantization | None = None
    """Vector quantization."""
    payload: list[PayloadField] = Field(default_factory=list)
    """Payload columns (pgvector); adding one is in place, changing or removing one is not."""
    metadata: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Collection metadata (Chroma; mutable in place)."""
    recreate_on_change: bool = False
    """Allow a replacement (drop and re-create) of a collection that holds vectors."""

    @property
    def rendered_backend(self) -> str:
        """The backend of a store-less collection (qdrant unless it says otherwise)."""
        return self.backend or "qdrant"
