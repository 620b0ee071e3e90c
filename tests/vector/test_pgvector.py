"""pgvector collections against a real PostgreSQL 18.6 + pgvector 0.8.6 (marker ``pgvector``)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from aiplane.providers.credentials import StoreError
from tests.servers.postgres import PostgresServer
from tests.vector.pg_support import (
    ann_indexes,
    converge,
    count,
    defs,
    insert_vectors,
    pg_stack,
    provider,
    sql,
)

pytestmark = pytest.mark.pgvector

DOCS = """\
- name: docs
  store: pg
  dimension: 8
  distance: cosine
  index: {type: hnsw, m: 16, efConstruct: 64}
  payload: [{name: title, type: text}]
"""


def test_apply_creates_and_a_second_plan_is_empty(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    db = postgres_server.database("create")
    path = pg_stack(tmp_path, postgres_server, db, DOCS)
    summaries = converge(path, postgres_server)
    assert summaries == [
        "+ collection docs: table public.docs, vector(8), hnsw vector_cosine_ops"
        " (ef_construction=64, m=16) (create)"
    ]
    [(_, method, options, opclass, valid)] = ann_indexes(postgres_server, db, "docs")
    assert (method, sorted(options), opclass, valid) == (
        "hnsw",
        ["ef_construction=64", "m=16"],
        "vector_cosine_ops",
        True,
    )
    columns = sql(
        postgres_server,
        db,
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = 'docs'::regclass AND attnum > 0 ORDER BY attnum",
    )
    assert columns == [("id", "text"), ("embedding", "vector(8)"), ("title", "text")]
    assert provider(postgres_server).plan(defs(path)) == []


def test_query_defaults_and_added_column_apply_in_place(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    db = postgres_server.database("inplace")
    converge(pg_stack(tmp_path, postgres_server, db, DOCS), postgres_server)
    insert_vectors(postgres_server, db, "docs", 50, 8)
    before = ann_indexes(postgres_server, db, "docs")
    changed = DOCS.replace("efConstruct: 64}", "efConstruct: 64, efSearch: 100}").replace(
        "type: text}]", "type: text}, {name: lang, type: text}]"
    )
    path = pg_stack(tmp_path, postgres_server, db, changed)
    [change] = provider(postgres_server).plan(defs(path))
    assert change.action == "update"
    assert change.summary() == (
        "~ collection docs: + payload.lang text; query.hnsw.ef_search 40 -> 100 (in place)"
    )
    converge(path, postgres_server)
    assert ann_indexes(postgres_server, db, "docs") == before  # the built index is untouched
    comment = sql(postgres_server, db, "SELECT obj_description('docs'::regclass, 'pg_class')")
    assert '"hnsw.ef_search":100' in comment[0][0]
    assert count(postgres_server, db, "docs") == 50
    assert provider(postgres_server).plan(defs(path)) == []


def test_build_parameter_change_reindexes_and_the_catalog_shows_the_new_graph(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    db = postgres_server.database("reindex")
    converge(pg_stack(tmp_path, postgres_server, db, DOCS), postgres_server)
    insert_vectors(postgres_server, db, "docs", 500, 8)
    [(old, *_)] = ann_indexes(postgres_server, db, "docs")
    path = pg_stack(tmp_path, postgres_server, db, DOCS.replace("m: 16", "m: 24"))
    [change] = provider(postgres_server).plan(defs(path))
    assert change.action == "reindex"
    assert change.summary() == (
        "~ collection docs: index.params.m 16 -> 24"
        " (re-index 500 vectors; the old index serves until the swap)"
    )
    progress: list[str] = []
    converge(path, postgres_server, progress=progress.append)
    [(new, method, options, opclass, valid)] = ann_indexes(postgres_server, db, "docs")
    assert new != old
    assert (method, sorted(options), valid) == ("hnsw", ["ef_construction=64", "m=24"], True)
    assert count(postgres_server, db, "docs") == 500
    assert provider(postgres_server).plan(defs(path)) == []
    # A metric change keeps the vectors too: a new operator class, so a re-index, not a replace.
    ivf = DOCS.replace("{type: hnsw, m: 16, efConstruct: 64}", "{type: ivf, nlist: 10}")
    path = pg_stack(tmp_path, postgres_server, db, ivf.replace("cosine", "euclid"))
    [change] = provider(postgres_server).plan(defs(path))
    assert change.action == "reindex"
    converge(path, postgres_server)
    [(_, method, options, opclass, valid)] = ann_indexes(postgres_server, db, "docs")
    assert (method, options, opclass, valid) == ("ivfflat", ["lists=10"], "vector_l2_ops", True)


def test_dimension_change_with_vectors_is_gated_refused_and_replaced_only_when_declared(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    db = postgres_server.database("replace")
    converge(pg_stack(tmp_path, postgres_server, db, DOCS), postgres_server)
    insert_vectors(postgres_server, db, "docs", 1000, 8)
    bigger = DOCS.replace("dimension: 8", "dimension: 16")
    path = pg_stack(tmp_path, postgres_server, db, bigger)
    [change] = provider(postgres_server).plan(defs(path))
    assert change.summary() == (
        "-/+ collection docs: dimension 8 -> 16 (replace: 1,000 vectors would be lost)"
    )
    assert "rerun with --allow-delete" in change.gate(allow_delete=False) or change.refused
    assert "recreateOnChange is not set" in change.gate(allow_delete=True)
    # Even handed to apply, the provider re-checks the table and drops nothing.
    p = provider(postgres_server)
    with pytest.raises(StoreError, match="recreateOnChange is not set; nothing dropped"):
        p.apply(change, defs(path)[0], defs(path)[0])
    assert count(postgres_server, db, "docs") == 1000

    path = pg_stack(tmp_path, postgres_server, db, bigger + "  recreateOnChange: true\n")
    [change] = provider(postgres_server).plan(defs(path))
    assert change.gate(allow_delete=False).endswith("rerun with --allow-delete")
    assert change.gate(allow_delete=True) == ""
    assert count(postgres_server, db, "docs") == 1000
    converge(path, postgres_server)
    assert count(postgres_server, db, "docs") == 0
    dims = sql(
        postgres_server,
        db,
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = 'docs'::regclass AND attname = 'embedding'",
    )
    assert dims == [("vector(16)",)]
    assert provider(postgres_server).plan(defs(path)) == []


def test_out_of_band_drop_index_is_drift_and_apply_repairs_it(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    db = postgres_server.database("drift")
    path = pg_stack(tmp_path, postgres_server, db, DOCS)
    converge(path, postgres_server)
    [(name, *_)] = ann_indexes(postgres_server, db, "docs")
    sql(postgres_server, db, f'DROP INDEX "{name}"')
    [change] = provider(postgres_server).plan(defs(path))
    assert change.action == "reindex"
    assert "index (missing) -> hnsw vector_cosine_ops (ef_construction=64, m=16)" in change.fields
    converge(path, postgres_server)
    assert [row[1] for row in ann_indexes(postgres_server, db, "docs")] == ["hnsw"]
    assert provider(postgres_server).plan(defs(path)) == []


def test_a_pin_changes_when_the_table_changes_out_of_band(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    db = postgres_server.database("pins")
    path = pg_stack(tmp_path, postgres_server, db, DOCS)
    converge(path, postgres_server)
    changed = pg_stack(tmp_path, postgres_server, db, DOCS.replace("m: 16", "m: 20"))
    p = provider(postgres_server)
    [change] = p.plan(defs(changed))
    assert p.pin(defs(changed), change) == change.pin
    insert_vectors(postgres_server, db, "docs", 10, 8)  # writes are not drift
    assert p.pin(defs(changed), change) == change.pin
    sql(postgres_server, db, "ALTER TABLE docs ADD COLUMN extra int")
    assert p.pin(defs(changed), change) != change.pin


def test_unmanaged_tables_and_other_stacks_collections_are_never_touched(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    db = postgres_server.database("owners")
    sql(postgres_server, db, "CREATE TABLE docs (id int primary key, body text)")
    sql(postgres_server, db, "INSERT INTO docs VALUES (1, 'keep me')")
    path = pg_stack(tmp_path, postgres_server, db, DOCS)
    with pytest.raises(StoreError) as caught:
        provider(postgres_server).plan(defs(path))
    line = str(caught.value)
    assert line.startswith(f"{path}:17:7: spec.vectorCollections[0]: collection docs: public.docs")
    assert "was not created by aiplane" in line
    assert sql(postgres_server, db, "SELECT * FROM docs") == [(1, "keep me")]

    other = pg_stack(
        tmp_path, postgres_server, db, DOCS.replace("docs", "shared"), stack="other", name="o.yaml"
    )
    converge(other, postgres_server)
    insert_vectors(postgres_server, db, "shared", 5, 8)
    mine = pg_stack(
        tmp_path,
        postgres_server,
        db,
        DOCS.replace("docs", "shared").replace("dimension: 8", "dimension: 4"),
    )
    with pytest.raises(StoreError, match="belongs to collection shared of stack other"):
        provider(postgres_server).plan(defs(mine))
    # A stack with no collection there prunes only its own tables: 'other' plans no deletion.
    empty = pg_stack(tmp_path, postgres_server, db, "- name: keep\n  store: pg\n  dimension: 4\n")
    changes = provider(postgres_server).plan(defs(empty))
    assert [c.action for c in changes] == ["create"]
    assert count(postgres_server, db, "shared") == 5


def test_a_collection_left_out_of_the_stack_is_deleted_only_with_the_flag(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    db = postgres_server.database("prune")
    both = DOCS + DOCS.replace("docs", "old-notes")
    converge(pg_stack(tmp_path, postgres_server, db, both), postgres_server)
    insert_vectors(postgres_server, db, "old_notes", 3, 8)
    path = pg_stack(tmp_path, postgres_server, db, DOCS)
    [change] = provider(postgres_server).plan(defs(path))
    assert change.summary() == (
        "- collection old-notes: table public.old_notes (delete: 3 vectors would be lost)"
    )
    assert change.gate(allow_delete=False).endswith("rerun with --allow-delete")
    converge(path, postgres_server)
    assert sql(postgres_server, db, "SELECT to_regclass('old_notes')") == [(None,)]


@pytest.mark.parametrize("problem", ["password", "unreachable", "extension"])
def test_connection_problems_are_one_located_line_and_nothing_is_created(
    tmp_path: Path, postgres_server: PostgresServer, problem: str
) -> None:
    from tests.servers.support import free_port

    db = postgres_server.database(f"err_{problem}", extension=problem != "extension")
    port = free_port() if problem == "unreachable" else None
    path = pg_stack(tmp_path, postgres_server, db, DOCS, port=port)
    wrong = "not-the-password-" + postgres_server.password[:4]
    p = provider(postgres_server)
    if problem == "password":
        p.env = {"AIPLANE_TEST_PG_PASSWORD": wrong}
    with pytest.raises(StoreError) as caught:
        p.plan(defs(path))
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"{path}:7:7: spec.vectorStores[0]: store pg: ")
    expected = {
        "password": 'password authentication failed for user "postgres"',
        "unreachable": "Connection refused",
        "extension": "the vector extension is not installed in database err_extension",
    }[problem]
    assert expected in text
    assert wrong not in text and postgres_server.password not in text
    tables = sql(postgres_server, db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    assert tables == [(0,)]


def test_killing_the_database_mid_reindex_leaves_the_old_index_serving_and_a_rerun_converges(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    db = postgres_server.database("killed")
    # IVFFlat takes the inserts cheaply; the HNSW build that replaces it takes seconds.
    ivf = DOCS.replace("dimension: 8", "dimension: 32").replace(
        "{type: hnsw, m: 16, efConstruct: 64}", "{type: ivf, nlist: 1}"
    )
    converge(pg_stack(tmp_path, postgres_server, db, ivf), postgres_server)
    insert_vectors(postgres_server, db, "docs", 10_000, 32)
    # The test server trades durability for speed (synchronous_commit off): write the rows'
    # WAL out now, so the crash this test causes can lose only what the re-index did.
    with psycopg.connect(**postgres_server.params(db), autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    [(old, *_)] = ann_indexes(postgres_server, db, "docs")
    path = pg_stack(
        tmp_path, postgres_server, db, ivf.replace("{type: ivf, nlist: 1}", "{type: hnsw}")
    )
    seen: list[str] = []

    def kill_when_building(text: str) -> None:
        seen.append(text)
        if "building" in text and postgres_server.proc and postgres_server.proc.alive():
            postgres_server.kill()

    with pytest.raises(StoreError, match=r"re-index interrupted .*the old index still serves"):
        converge(path, postgres_server, progress=kill_when_building, poll_seconds=0.1)
    assert any("building" in s for s in seen), seen
    postgres_server.start()
    indexes = {
        name: (method, valid)
        for name, method, _, _, valid in ann_indexes(postgres_server, db, "docs")
    }
    assert indexes.pop(old) == ("ivfflat", True)
    # What the dead build left, if its first transaction reached the disk (the test server
    # commits asynchronously): an invalid index, never used by queries.
    assert list(indexes.values()) in ([], [("hnsw", False)])
    with psycopg.connect(**postgres_server.params(db), autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        query = "SELECT id FROM docs ORDER BY embedding <=> (SELECT embedding FROM docs LIMIT 1) LIMIT 5"
        plan = [row[0] for row in conn.execute("EXPLAIN " + query).fetchall()]
        assert any(old in line for line in plan), plan
        # The query runs on it (an IVFFlat of one list built on an empty table finds what it
        # finds: recall is not what this test is about).
        conn.execute(query).fetchall()
    assert count(postgres_server, db, "docs") == 10_000

    converge(path, postgres_server)
    [(_, method, options, _, valid)] = ann_indexes(postgres_server, db, "docs")
    assert (method, sorted(options), valid) == ("hnsw", ["ef_construction=64", "m=16"], True)
    assert provider(postgres_server).plan(defs(path)) == []


def test_above_2000_dimensions_the_index_is_on_a_halfvec_cast(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    db = postgres_server.database("halfvec")
    path = pg_stack(tmp_path, postgres_server, db, DOCS.replace("dimension: 8", "dimension: 2048"))
    converge(path, postgres_server)
    [(_, method, options, opclass, valid)] = ann_indexes(postgres_server, db, "docs")
    assert (method, sorted(options), opclass, valid) == (
        "hnsw", ["ef_construction=64", "m=16"], "halfvec_cosine_ops", True,
    )  # fmt: skip
    [(definition,)] = sql(
        postgres_server,
        db,
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'docs' AND indexdef LIKE '%hnsw%'",
    )
    assert "(embedding)::halfvec(2048)" in definition
    insert_vectors(postgres_server, db, "docs", 20, 2048)
    assert provider(postgres_server).plan(defs(path)) == []
