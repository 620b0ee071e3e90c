"""``spec.vectorCollections``: vector database collections and their index parameters."""

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
    nlist: PositiveInt | None = Field(default=None, description="IVF: number of clusters.")


class Quantization(StackModel):
    type: Literal["scalar", "product", "binary"]
    """scalar, product or binary."""
    quantile: float | None = Field(default=None, gt=0, le=1)
    """Scalar: quantile for the value range."""
    compression: Literal["x4", "x8", "x16", "x32", "x64"] | None = None
    """Product: compression ratio."""
    always_ram: bool | None = None
    """Keep quantized vectors in RAM."""


class VectorCollection(StackModel):
    name: Name
    """Collection name."""
    backend: Literal["qdrant", "milvus"] = "qdrant"
    """Vector database."""
    endpoint: str = Field(description="Base URL of the vector database, e.g. http://qdrant:6333.")
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
