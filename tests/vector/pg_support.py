"""Helpers for the pgvector tests: stack files pointing at the session server, and catalog reads."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path
from typing import Any

import psycopg

from aiplane.check import load_and_check
from aiplane.providers.collection_def import CollectionDef
from aiplane.providers.pgvector.provider import PgvectorProvider
from aiplane.render.vector_collections import render_vector_collections
from tests.servers.postgres import PostgresServer

PASSWORD_ENV = "AIPLANE_TEST_PG_PASSWORD"


def pg_stack(
    tmp_path: Path,
    server: PostgresServer,
    database: str,
    collections: str,
    *,
    stack: str = "t",
    port: int | None = None,
    name: str = "stack.yaml",
) -> str:
    """Write a stack with one pgvector store ``pg`` and the given ``vectorCollections`` items."""
    head = f"""\
    apiVersion: aiplane.dev/v1alpha1
    kind: Stack
    metadata:
      name: {stack}
    spec:
      vectorStores:
        - name: pg
          pgvector:
            host: 127.0.0.1
            port: {port or server.port}
            database: {database}
            user: postgres
            password: {{env: {PASSWORD_ENV}}}
            sslmode: disable
            connectTimeoutSeconds: 2
      vectorCollections:
    """
    path = tmp_path / name
    path.write_text(textwrap.dedent(head) + textwrap.indent(textwrap.dedent(collections), "    "))
    return str(path)


def defs(path: str) -> list[CollectionDef]:
    return [CollectionDef.from_body(b) for b in render_vector_collections(load_and_check(path))]


def provider(server: PostgresServer, stack: str = "t", **kw: Any) -> PgvectorProvider:
    return PgvectorProvider(stack, env={PASSWORD_ENV: server.password}, **kw)


def converge(path: str, server: PostgresServer, **kw: Any) -> list[str]:
    """Plan and apply every change of the stack (as if every flag were given); the summaries."""
    wants = defs(path)
    p = provider(server, stack=wants[0].stack if wants else "t", **kw)
    changes = p.plan(wants)
    for change in changes:
        want = next((w for w in wants if w.name == change.name), None)
        p.apply(change, want, want or wants[0])
    return [c.summary() for c in changes]


def sql(server: PostgresServer, database: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(**server.params(database), autocommit=True) as conn:
        cur = conn.execute(query, args or None)
        return cur.fetchall() if cur.description else []


def ann_indexes(server: PostgresServer, database: str, table: str) -> list[tuple[Any, ...]]:
    """(name, method, reloptions, opclass, valid) of the table's ANN indexes, from pg_catalog."""
    return sql(
        server,
        database,
        """SELECT i.relname, am.amname, i.reloptions, opc.opcname, ix.indisvalid
           FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid
           JOIN pg_am am ON am.oid = i.relam JOIN pg_opclass opc ON opc.oid = ix.indclass[0]
           WHERE ix.indrelid = %s::regclass AND am.amname IN ('hnsw', 'ivfflat')
           ORDER BY i.relname""",
        table,
    )


def insert_vectors(server: PostgresServer, database: str, table: str, count: int, dim: int) -> None:
    rng = random.Random(7)
    rows = [
        (f"v{i}", "[" + ",".join(f"{rng.random():.4f}" for _ in range(dim)) + "]")
        for i in range(count)
    ]
    with (
        psycopg.connect(**server.params(database)) as conn,
        conn.cursor() as cur,
        cur.copy(f'COPY "{table}" (id, embedding) FROM STDIN') as copy,
    ):
        for row in rows:
            copy.write_row(row)


def count(server: PostgresServer, database: str, table: str) -> int:
    return int(sql(server, database, f'SELECT count(*) FROM "{table}"')[0][0])
