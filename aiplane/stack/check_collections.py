"""Vector collection checks: index parameters that the chosen backend understands."""

from __future__ import annotations

from aiplane.errors import Diagnostic
from aiplane.stack.loader import LoadedStack


def check_collections(loaded: LoadedStack) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for index, collection in enumerate(loaded.stack.spec.vector_collections):
        path = ("spec", "vectorCollections", index, "index")
        idx = collection.index
        if idx.type == "ivf" and collection.backend == "qdrant":
            found.append(
                loaded.diagnostic(
                    (*path, "type"), "qdrant has no IVF index", "use type: hnsw, or backend: milvus"
                )
            )
        if idx.type == "hnsw" and idx.nlist is not None:
            found.append(
                loaded.diagnostic(
                    (*path, "nlist"), "nlist is an IVF parameter", "remove it or use type: ivf"
                )
            )
        if idx.type == "ivf" and (idx.m is not None or idx.ef_construct is not None):
            found.append(
                loaded.diagnostic(
                    path, "m and efConstruct are HNSW parameters", "remove them or use type: hnsw"
                )
            )
        quant = collection.quantization
        if quant and quant.type == "product" and quant.compression is None:
            found.append(
                loaded.diagnostic(
                    ("spec", "vectorCollections", index, "quantization"),
                    "product quantization needs compression (x4 .. x64)",
                )
            )
        if collection.replication > 1 and collection.shards < 1:
            found.append(
                loaded.diagnostic(
                    ("spec", "vectorCollections", index, "shards"), "needs at least one shard"
                )
            )
    return found
