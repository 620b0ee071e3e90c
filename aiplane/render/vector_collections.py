"""Collections in a store (``store:``) → provider-tagged desired definitions, purely.

Each definition is a plain JSON-able value in the provider's own terms: for pgvector the table,
vector column and ANN index (access method, operator class, build parameters) plus the query-time
defaults recorded for clients; for Chroma the collection's HNSW configuration and metadata. The
provider reads the live database in the same shape, so a plan is a field-by-field comparison.
Connection details travel with the definition (never a secret value: only where it comes from).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from aiplane.stack.loader import LoadedStack
from aiplane.stack.sections.collections import VectorCollection
from aiplane.stack.sections.vector_stores import ChromaStore, Credential, PgvectorStore
from aiplane.stack.yamlpos import Path

if TYPE_CHECKING:
    from aiplane.providers.base import Resource

# pgvector's defaults (README of 0.8): m 16, ef_construction 64, lists 100, ef_search 40, probes 1.
PG_DEFAULTS = {"m": 16, "ef_construction": 64, "lists": 100, "ef_search": 40, "probes": 1}
# Chroma 1.5's HNSW defaults (collection_configuration.py).
CHROMA_DEFAULTS = {"max_neighbors": 16, "ef_construction": 100, "ef_search": 100}
PG_VECTOR_INDEX_DIMS = 2000

_PG_OPS = {"cosine": "cosine_ops", "dot": "ip_ops", "euclid": "l2_ops", "manhattan": "l1_ops"}
_CHROMA_SPACE = {"cosine": "cosine", "dot": "ip", "euclid": "l2"}


def collection_resources(loaded: LoadedStack) -> list[Resource]:
    """The stack's store collections as plan resources, tagged with their provider.

    Address: ``(pgvector|chroma, "collection", <store>, <collection>)``; the body is what the
    provider reads back as ``aiplane.providers.collection_def.CollectionDef``.
    """
    from aiplane.plan.address import Address
    from aiplane.providers.base import Resource

    return [
        Resource(
            Address(body["provider"], "collection", body["store"], body["name"]),
            body,
            body["source"],
            f"collection {body['name']}",
        )
        for body in render_vector_collections(loaded)
    ]


def render_vector_collections(loaded: LoadedStack) -> list[dict[str, Any]]:
    """Every collection that names a store, in stack order, as resource bodies."""
    spec = loaded.stack.spec
    out: list[dict[str, Any]] = []
    for index, coll in enumerate(spec.vector_collections):
        store = spec.vector_store(coll.store) if coll.store else None
        if store is None:
            continue
        store_index = spec.vector_stores.index(store)
        path: Path = ("spec", "vectorCollections", index)
        store_path: Path = ("spec", "vectorStores", store_index)
        if store.pgvector is not None:
            provider: Literal["pgvector", "chroma"] = "pgvector"
            connection = pg_connection(store.pgvector)
            desired = pg_desired(loaded.stack.metadata.name, coll, store.pgvector.schema_name)
        else:
            assert store.chroma is not None
            provider = "chroma"
            connection = chroma_connection(store.chroma)
            desired = chroma_desired(loaded.stack.metadata.name, coll)
        out.append(
            {
                "provider": provider,
                "stack": loaded.stack.metadata.name,
                "name": coll.name,
                "store": store.name,
                "source": loaded.source_ref(path),
                "where": _located(loaded, path),
                "store_where": _located(loaded, store_path),
                "connection": connection,
                "desired": desired,
                "recreate_on_change": coll.recreate_on_change,
                "namespace": loaded.stack.metadata.namespace,
            }
        )
    return out


def _located(loaded: LoadedStack, path: Path) -> dict[str, Any]:
    """Where a part of the stack is, for ``FILE:LINE:COL`` errors raised by the provider."""
    from aiplane.stack.yamlpos import dotted

    line, column = loaded.locate(path)
    return {"file": loaded.path, "line": line, "column": column, "path": dotted(path)}


def _credential(cred: Credential | None) -> dict[str, str] | None:
    if cred is None:
        return None
    if cred.env is not None:
        return {"env": cred.env}
    assert cred.secret_ref is not None
    return {"secretName": cred.secret_ref.name, "secretKey": cred.secret_ref.key}


def pg_connection(store: PgvectorStore) -> dict[str, Any]:
    """Where and how to connect; the password only by its source."""
    return {
        "host": store.host,
        "port": store.port,
        "database": store.database,
        "user": store.user,
        "password": _credential(store.password),
        "sslmode": store.sslmode,
        "connectTimeout": store.connect_timeout_seconds,
        "maintenanceWorkMem": store.maintenance_work_mem,
    }


def pg_table_name(collection: str) -> str:
    """The table a collection becomes: its name with '-' as '_' (a plain SQL identifier)."""
    return collection.replace("-", "_")


def pg_desired(stack: str, coll: VectorCollection, schema: str) -> dict[str, Any]:
    """The table, its vector column and ANN index, and the recorded query-time defaults."""
    idx = coll.index
    # Above 2,000 dimensions pgvector indexes a halfvec cast of the column (up to 4,000).
    cast = "halfvec" if coll.dimension > PG_VECTOR_INDEX_DIMS else "vector"
    if idx.type == "hnsw":
        method = "hnsw"
        params = {
            "m": idx.m or PG_DEFAULTS["m"],
            "ef_construction": idx.ef_construct or PG_DEFAULTS["ef_construction"],
        }
        query = {"hnsw.ef_search": idx.ef_search or PG_DEFAULTS["ef_search"]}
    else:
        method = "ivfflat"
        params = {"lists": idx.nlist or PG_DEFAULTS["lists"]}
        query = {"ivfflat.probes": idx.probes or PG_DEFAULTS["probes"]}
    return {
        "schema": schema,
        "table": pg_table_name(coll.name),
        "dimension": coll.dimension,
        "payload": {p.name: p.type for p in coll.payload},
        "index": {
            "method": method,
            "opclass": f"{cast}_{_PG_OPS[coll.distance]}",
            "cast": cast if cast != "vector" else None,
            "params": params,
        },
        "owner": {"stack": stack, "collection": coll.name, "query": query},
    }


def chroma_connection(store: ChromaStore) -> dict[str, Any]:
    """Server URL, tenant and database; the token only by its source."""
    return {
        "url": store.url.rstrip("/"),
        "tenant": store.tenant,
        "database": store.database,
        "token": _credential(store.token),
        "timeout": store.timeout_seconds,
    }


def chroma_desired(stack: str, coll: VectorCollection) -> dict[str, Any]:
    """The collection's HNSW configuration, its dimension and metadata (with the owner)."""
    idx = coll.index
    return {
        "name": coll.name,
        "dimension": coll.dimension,
        "hnsw": {
            "space": _CHROMA_SPACE.get(coll.distance, coll.distance),
            "max_neighbors": idx.m or CHROMA_DEFAULTS["max_neighbors"],
            "ef_construction": idx.ef_construct or CHROMA_DEFAULTS["ef_construction"],
            "ef_search": idx.ef_search or CHROMA_DEFAULTS["ef_search"],
        },
        "metadata": dict(sorted(coll.metadata.items())),
        "owner": {"stack": stack, "collection": coll.name},
    }
