"""``spec.vectorCollections`` → one ConfigMap per collection holding Qdrant's create-collection body.

The body (data key ``collection.json``) is exactly what ``PUT /collections/<name>`` takes, with
sorted keys so it diffs stably. Kubernetes does not create the collection; the apply step (or a
job) sends it to ``aiplane.dev/endpoint``. Vector size, distance and shard count cannot be changed
on an existing Qdrant collection (they are absent from ``UpdateCollection``), so the ConfigMap lists
them in ``aiplane.dev/immutable-fields`` (comma-separated JSON paths into the body): a plan that
sees one of them change must show "replace" (drop and re-ingest), not "update".
"""

from __future__ import annotations

import json
from typing import Any

from aiplane.providers.kubernetes.labels import IMMUTABLE_ANN
from aiplane.render.common import Context, Obj
from aiplane.stack.models import Quantization, VectorCollection

IMMUTABLE_FIELDS = "vectors.size,vectors.distance,shard_number"

# Qdrant spells distances with a capital and "Euclid", not "Euclidean".
_DISTANCE = {"cosine": "Cosine", "dot": "Dot", "euclid": "Euclid", "manhattan": "Manhattan"}


def render_collections(ctx: Context) -> list[Obj]:
    """Qdrant collections as ConfigMaps; collections in a store as pgvector/Chroma resources."""
    from aiplane.render.vector_collections import collection_resources

    for resource in collection_resources(ctx.loaded):
        ctx.add(resource)
    out: list[Obj] = []
    for index, coll in enumerate(ctx.loaded.stack.spec.vector_collections):
        path = ("spec", "vectorCollections", index)
        if coll.store is not None:
            continue  # a store's collections are planned against the live database, not rendered
        if coll.rendered_backend != "qdrant":
            # Milvus has no declarative create body of this shape; say so rather than guess.
            ctx.warn(
                (*path, "backend"),
                f"backend {coll.rendered_backend} is not rendered yet",
                "only qdrant collections are rendered",
            )
            continue
        if coll.index.type != "hnsw":
            ctx.warn(
                (*path, "index", "type"), "qdrant indexes are always HNSW; ivf settings ignored"
            )
        annotations = {
            IMMUTABLE_ANN: IMMUTABLE_FIELDS,
            "aiplane.dev/backend": coll.rendered_backend,
            "aiplane.dev/endpoint": coll.endpoint or "",
            "aiplane.dev/collection": coll.name,
        }
        if coll.api_key_secret:
            # Only where the key is; the apply step reads the Secret itself.
            ref = coll.api_key_secret
            annotations["aiplane.dev/api-key-secret"] = f"{ref.name}/{ref.key}"
        out.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": ctx.meta(
                    f"aiplane-collection-{coll.name}",
                    path,
                    f"collection {coll.name}",
                    annotations=annotations,
                ),
                "data": {
                    "collection.json": json.dumps(qdrant_body(coll), sort_keys=True, indent=2)
                },
            }
        )
    return out


def qdrant_body(coll: VectorCollection) -> dict[str, Any]:
    """The ``CreateCollection`` body for Qdrant 1.x."""
    hnsw: dict[str, Any] = {}
    if coll.index.m is not None:
        hnsw["m"] = coll.index.m
    if coll.index.ef_construct is not None:
        hnsw["ef_construct"] = coll.index.ef_construct
    if coll.index.full_scan_threshold is not None:
        hnsw["full_scan_threshold"] = coll.index.full_scan_threshold
    body: dict[str, Any] = {
        "vectors": {
            "size": coll.dimension,
            "distance": _DISTANCE[coll.distance],
            "on_disk": coll.on_disk,
        },
        "shard_number": coll.shards,
        "replication_factor": coll.replication,
        "on_disk_payload": coll.payload_on_disk,
    }
    if hnsw:
        body["hnsw_config"] = hnsw
    if coll.quantization is not None:
        body["quantization_config"] = _quantization(coll.quantization)
    return body


def _quantization(q: Quantization) -> dict[str, Any]:
    inner: dict[str, Any] = {}
    if q.type == "scalar":
        inner["type"] = "int8"
        if q.quantile is not None:
            inner["quantile"] = q.quantile
    elif q.type == "product":
        inner["compression"] = q.compression or "x16"
    if q.always_ram is not None:
        inner["always_ram"] = q.always_ram
    return {q.type: inner}
