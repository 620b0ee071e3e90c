"""Vector collection checks: what the chosen store would refuse, caught at the stack line.

The bounds are the servers' own (pgvector 0.8: ``m`` 2-100, ``ef_construction`` 4-1000 and at
least ``2 * m``, ``lists`` 1-32768, HNSW/IVFFlat on ``vector`` up to 2,000 dimensions and on a
``halfvec`` cast up to 4,000), so a plan never gets as far as a half-made change.
"""

from __future__ import annotations

from aiplane.errors import Diagnostic
from aiplane.stack.checks import check_reference, check_unique
from aiplane.stack.loader import LoadedStack
from aiplane.stack.sections.collections import VectorCollection
from aiplane.stack.yamlpos import Path

PG_M = (2, 100)
PG_EF_CONSTRUCTION = (4, 1000)
PG_LISTS = (1, 32_768)
PG_EF_SEARCH = (1, 1000)
PG_PROBES = (1, 32_768)
PG_VECTOR_INDEX_DIMS = 2000
PG_HALFVEC_INDEX_DIMS = 4000


def check_collections(loaded: LoadedStack) -> list[Diagnostic]:
    spec = loaded.stack.spec
    found = check_unique(loaded, spec.vector_stores, ("spec", "vectorStores"), "vector store")
    stores = {s.name: s.kind for s in spec.vector_stores}
    for index, coll in enumerate(spec.vector_collections):
        path: Path = ("spec", "vectorCollections", index)
        found += check_reference(loaded, coll.store, stores, (*path, "store"), "vector store")
        kind = stores.get(coll.store) if coll.store else None
        if coll.store is not None:
            found += _store_exclusive(loaded, path, coll)
        elif coll.endpoint is None:
            found.append(
                loaded.diagnostic(
                    path, "needs a store or an endpoint", "add store: <a spec.vectorStores name>"
                )
            )
        if kind == "pgvector":
            found += _check_pgvector(loaded, path, coll)
        elif kind == "chroma":
            found += _check_chroma(loaded, path, coll)
        elif coll.store is None:
            found += _check_rendered(loaded, path, coll)
        found += _check_index_kind(loaded, path, coll)
    return found


def _store_exclusive(loaded: LoadedStack, path: Path, coll: VectorCollection) -> list[Diagnostic]:
    found = []
    for attr, key in (("backend", "backend"), ("endpoint", "endpoint")):
        if getattr(coll, attr) is not None:
            found.append(
                loaded.diagnostic(
                    (*path, key),
                    f"{key} does not apply to a collection in a store",
                    "the store says where it lives; remove it",
                )
            )
    unsupported = (
        ("shards", coll.shards != 1),
        ("replication", coll.replication != 1),
        ("onDisk", coll.on_disk),
        ("payloadOnDisk", coll.payload_on_disk),
        ("quantization", coll.quantization is not None),
    )
    for key, present in unsupported:
        if present:
            found.append(
                loaded.diagnostic(
                    (*path, key),
                    f"{key} is a Qdrant setting; pgvector and Chroma stores have none",
                    "remove it",
                )
            )
    return found


def _between(
    loaded: LoadedStack, path: Path, name: str, value: int | None, bounds: tuple[int, int]
) -> list[Diagnostic]:
    low, high = bounds
    if value is None or low <= value <= high:
        return []
    return [
        loaded.diagnostic(path, f"{name} {value} is out of range: pgvector allows {low}-{high}")
    ]


def _check_pgvector(loaded: LoadedStack, path: Path, coll: VectorCollection) -> list[Diagnostic]:
    idx = coll.index
    ipath = (*path, "index")
    found = _between(loaded, (*ipath, "m"), "m", idx.m, PG_M)
    found += _between(
        loaded, (*ipath, "efConstruct"), "efConstruct", idx.ef_construct, PG_EF_CONSTRUCTION
    )
    found += _between(loaded, (*ipath, "nlist"), "nlist (lists)", idx.nlist, PG_LISTS)
    found += _between(loaded, (*ipath, "efSearch"), "efSearch", idx.ef_search, PG_EF_SEARCH)
    found += _between(loaded, (*ipath, "probes"), "probes", idx.probes, PG_PROBES)
    if idx.type == "hnsw":
        m, ef = idx.m or 16, idx.ef_construct or 64
        if ef < 2 * m and PG_M[0] <= m <= PG_M[1]:
            found.append(
                loaded.diagnostic(
                    (*ipath, "efConstruct"),
                    f"efConstruct {ef} must be at least 2 * m = {2 * m}",
                    f"raise efConstruct to {2 * m} or lower m",
                )
            )
    if coll.dimension > PG_HALFVEC_INDEX_DIMS:
        found.append(
            loaded.diagnostic(
                (*path, "dimension"),
                f"dimension {coll.dimension} is too large to index: pgvector indexes at most"
                f" {PG_VECTOR_INDEX_DIMS} dimensions as vector, {PG_HALFVEC_INDEX_DIMS} as halfvec",
                "reduce the embedding size",
            )
        )
    if idx.type == "ivf" and coll.distance == "manhattan":
        found.append(
            loaded.diagnostic(
                (*path, "distance"),
                "pgvector's IVFFlat index has no manhattan (L1) operator class",
                "use type: hnsw, or distance cosine/dot/euclid",
            )
        )
    if coll.metadata:
        found.append(
            loaded.diagnostic(
                (*path, "metadata"),
                "metadata is a Chroma setting",
                "declare payload columns instead",
            )
        )
    return found


def _check_chroma(loaded: LoadedStack, path: Path, coll: VectorCollection) -> list[Diagnostic]:
    found = []
    if len(coll.name) < 3:
        found.append(
            loaded.diagnostic((*path, "name"), "Chroma collection names have at least 3 characters")
        )
    if coll.index.type != "hnsw":
        found.append(
            loaded.diagnostic(
                (*path, "index", "type"), "a Chroma server indexes with HNSW", "use type: hnsw"
            )
        )
    if coll.distance == "manhattan":
        found.append(
            loaded.diagnostic(
                (*path, "distance"),
                "Chroma has no manhattan distance",
                "use cosine, dot or euclid",
            )
        )
    if coll.payload:
        found.append(
            loaded.diagnostic(
                (*path, "payload"),
                "Chroma stores schemaless metadata per record; payload columns are pgvector's",
                "remove payload",
            )
        )
    for key in ("m", "ef_construct", "ef_search"):
        value = getattr(coll.index, key)
        if value is not None and value < 2:
            found.append(
                loaded.diagnostic(
                    (*path, "index", _camel(key)), f"{_camel(key)} must be at least 2"
                )
            )
    return found


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _check_rendered(loaded: LoadedStack, path: Path, coll: VectorCollection) -> list[Diagnostic]:
    found = []
    if coll.index.type == "ivf" and coll.rendered_backend == "qdrant":
        found.append(
            loaded.diagnostic(
                (*path, "index", "type"),
                "qdrant has no IVF index",
                "use type: hnsw, or backend: milvus",
            )
        )
    for key, present in (
        ("payload", bool(coll.payload)),
        ("metadata", bool(coll.metadata)),
        ("recreateOnChange", coll.recreate_on_change),
    ):
        if present:
            found.append(
                loaded.diagnostic(
                    (*path, key),
                    f"{key} applies only to a collection in a store",
                    "add store: <a spec.vectorStores name>",
                )
            )
    quant = coll.quantization
    if quant and quant.type == "product" and quant.compression is None:
        found.append(
            loaded.diagnostic(
                (*path, "quantization"), "product quantization needs compression (x4 .. x64)"
            )
        )
    return found


def _check_index_kind(loaded: LoadedStack, path: Path, coll: VectorCollection) -> list[Diagnostic]:
    idx = coll.index
    ipath = (*path, "index")
    found = []
    if idx.type == "hnsw" and (idx.nlist is not None or idx.probes is not None):
        key = "nlist" if idx.nlist is not None else "probes"
        found.append(
            loaded.diagnostic(
                (*ipath, key), f"{key} is an IVF parameter", "remove it or use type: ivf"
            )
        )
    if idx.type == "ivf" and (
        idx.m is not None or idx.ef_construct is not None or idx.ef_search is not None
    ):
        found.append(
            loaded.diagnostic(
                ipath,
                "m, efConstruct and efSearch are HNSW parameters",
                "remove them or use type: hnsw",
            )
        )
    return found
