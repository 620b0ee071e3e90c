"""``spec.vectorCollections``: vector database collections and their index parameters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aiplane.stack.sections.base import Name, PositiveInt, SecretRef, StackModel


class VectorIndex(StackModel):
    type: Literal["hnsw", "ivf"] = "hnsw"
    m: PositiveInt | None = Field(default=None, description="HNSW: edges per node.")
    ef_construct: PositiveInt | None = Field(default=None, description="HNSW: build-time beam.")
    full_scan_threshold: PositiveInt | None = None
    nlist: PositiveInt | None = Field(default=None, description="IVF: number of clusters.")


class Quantization(StackModel):
    type: Literal["scalar", "product", "binary"]
    quantile: float | None = Field(default=None, gt=0, le=1)
    compression: Literal["x4", "x8", "x16", "x32", "x64"] | None = None
    always_ram: bool | None = None


class VectorCollection(StackModel):
    name: Name
    backend: Literal["qdrant", "milvus"] = "qdrant"
    endpoint: str = Field(description="Base URL of the vector database, e.g. http://qdrant:6333.")
    api_key_secret: SecretRef | None = None
    dimension: int = Field(gt=0, le=65_536)
    distance: Literal["cosine", "dot", "euclid", "manhattan"] = "cosine"
    index: VectorIndex = Field(default_factory=VectorIndex)
    shards: PositiveInt = 1
    replication: PositiveInt = 1
    on_disk: bool = False
    payload_on_disk: bool = False
    quantization: Quantization | None = None
