"""Store collections render to provider-tagged definitions (pure; no database)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from aiplane.check import load_and_check
from aiplane.providers.collection_def import CollectionDef
from aiplane.providers.vector_change import CollectionChange, pin_of
from aiplane.render.vector_collections import collection_resources

STACK = """\
apiVersion: aiplane.dev/v1alpha1
kind: Stack
metadata: {name: s, namespace: ml}
spec:
  vectorStores:
    - name: pg
      pgvector: {host: db, database: rag, user: app, password: {env: PG_SECRET_PW}}
    - name: ch
      chroma: {url: http://chroma:8000/, token: {secretRef: {name: chroma, key: token}}}
  vectorCollections:
    - name: big-docs
      store: pg
      dimension: 3072
      distance: dot
      index: {type: hnsw}
    - name: small
      store: pg
      dimension: 8
      distance: euclid
      index: {type: ivf, nlist: 50, probes: 4}
    - name: notes
      store: ch
      dimension: 384
      distance: dot
      index: {m: 32}
"""


def resources(tmp_path: Path) -> list[CollectionDef]:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(STACK))
    return [
        CollectionDef.from_body(r.body) for r in collection_resources(load_and_check(str(path)))
    ]


def test_pgvector_definitions_follow_distance_dimension_and_defaults(tmp_path: Path) -> None:
    big, small, _ = resources(tmp_path)
    assert big.desired["table"] == "big_docs"
    # Above 2,000 dimensions the index is on a halfvec cast; defaults are pgvector's own.
    assert big.desired["index"] == {
        "method": "hnsw",
        "opclass": "halfvec_ip_ops",
        "cast": "halfvec",
        "params": {"m": 16, "ef_construction": 64},
    }
    assert big.desired["owner"]["query"] == {"hnsw.ef_search": 40}
    assert small.desired["index"]["method"] == "ivfflat"
    assert small.desired["index"]["opclass"] == "vector_l2_ops"
    assert small.desired["index"]["params"] == {"lists": 50}
    assert small.desired["owner"]["query"] == {"ivfflat.probes": 4}
    assert (small.where.line, small.store_where.line) == (16, 6)


def test_chroma_definition_and_credentials_by_source_only(tmp_path: Path) -> None:
    *_, notes = resources(tmp_path)
    assert notes.provider == "chroma"
    assert notes.desired["hnsw"] == {
        "space": "ip",
        "max_neighbors": 32,
        "ef_construction": 100,
        "ef_search": 100,
    }
    assert notes.connection["url"] == "http://chroma:8000"
    assert notes.connection["token"] == {"secretName": "chroma", "secretKey": "token"}
    assert notes.namespace == "ml"
    text = json.dumps([r.to_body() for r in resources(tmp_path)])
    assert "PG_SECRET_PW" in text  # the variable's name, never a value


def test_change_summaries_and_gates() -> None:
    replace = CollectionChange("pgvector", "pg", "docs", "replace", ("dimension 768 -> 1024",),
                               120_431, "p", destructive=True)  # fmt: skip
    assert replace.summary() == (
        "-/+ collection docs: dimension 768 -> 1024 (replace: 120,431 vectors would be lost)"
    )
    assert replace.gate(allow_delete=False).endswith("rerun with --allow-delete")
    assert replace.gate(allow_delete=True) == ""
    refused = CollectionChange("pgvector", "pg", "docs", "replace", (), 5, "p",
                               destructive=True, refused="replace refused")  # fmt: skip
    assert refused.gate(allow_delete=True) == "collection docs: replace refused"
    live = {"table": "docs", "rows": 5, "index": None}
    assert pin_of(live) == pin_of({**live, "rows": 6}) != pin_of({**live, "index": "x"})
