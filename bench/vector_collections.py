"""Vector collections against a real PostgreSQL 18 + pgvector 0.8.6 (started here, loopback).

Two figures for docs/benchmarks.md:

1. **Plan time for N collections** (default 200, spread over S stores = databases): the pgvector
   provider reads every store concurrently, a whole store in four catalog queries, and classifies
   each collection. Baseline: what a per-resource tool does (Terraform's Read per resource): one
   collection at a time over one connection, the same catalog queries restricted to one table.
2. **Re-index time for V vectors of D dimensions** (default 100,000 x 768, HNSW m 16 -> 24):
   aiplane's apply (CREATE INDEX CONCURRENTLY beside the old index, progress polled, swap, drop),
   against the same build done by hand (``CREATE INDEX CONCURRENTLY`` + ``DROP INDEX``).

Usage: .venv/bin/python bench/vector_collections.py [--collections 200] [--stores 4]
       [--vectors 100000] [--dim 768] [--runs 5] [--work-mem 1GB]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from aiplane.check import load_and_check  # noqa: E402
from aiplane.providers.collection_def import CollectionDef  # noqa: E402
from aiplane.providers.pgvector.catalog import _COLUMNS, _INDEXES, _TABLES  # noqa: E402
from aiplane.providers.pgvector.provider import PgvectorProvider  # noqa: E402
from aiplane.render.vector_collections import render_vector_collections  # noqa: E402
from tests.servers.postgres import PostgresServer, start_postgres  # noqa: E402

ENV = "AIPLANE_BENCH_PG_PASSWORD"


def stack_file(path: Path, server: PostgresServer, stores: list[str], collections: str) -> str:
    store_text = "".join(
        f"""
        - name: {db.replace("_", "-")}
          pgvector:
            host: 127.0.0.1
            port: {server.port}
            database: {db}
            user: postgres
            password: {{env: {ENV}}}
            sslmode: disable
            maintenanceWorkMem: {os.environ.get("BENCH_WORK_MEM", "1GB")}"""
        for db in stores
    )
    head = f"""\
    apiVersion: aiplane.dev/v1alpha1
    kind: Stack
    metadata:
      name: bench
    spec:
      vectorStores:{store_text}
      vectorCollections:
    """
    path.write_text(textwrap.dedent(head) + textwrap.indent(collections, "    "))
    return str(path)


def many(count: int, stores: list[str]) -> str:
    return "".join(
        f"- name: c{i:04d}\n  store: {stores[i % len(stores)].replace('_', '-')}\n"
        f"  dimension: 64\n  index: {{type: hnsw, m: 16, efConstruct: 64}}\n"
        f"  payload: [{{name: title, type: text}}]\n"
        for i in range(count)
    )


def apply_all(provider: PgvectorProvider, path: str) -> None:
    wants = [CollectionDef.from_body(b) for b in render_vector_collections(load_and_check(path))]
    for change in provider.plan(wants):
        want = next(w for w in wants if w.name == change.name)
        provider.apply(change, want, want)


def bench_plan(server: PostgresServer, tmp: Path, count: int, nstores: int, runs: int) -> None:
    stores = [server.database(f"plan{i}") for i in range(nstores)]
    path = stack_file(tmp / "plan.yaml", server, stores, many(count, stores))
    provider = PgvectorProvider("bench", env={ENV: server.password})
    apply_all(provider, path)
    wants = [CollectionDef.from_body(b) for b in render_vector_collections(load_and_check(path))]
    ours, theirs = [], []
    for _ in range(runs):
        started = time.perf_counter()
        assert provider.plan(wants) == []
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        per_resource(server, stores, wants)
        theirs.append(time.perf_counter() - started)
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"| plan {count} collections in {nstores} stores (empty plan) | {a * 1000:.0f} ms |"
          f" {b * 1000:.0f} ms | {b / a:.1f}x |")  # fmt: skip


def per_resource(server: PostgresServer, stores: list[str], wants: list[Any]) -> None:
    """The baseline: one collection at a time, one connection per store, same queries."""
    for db in stores:
        with psycopg.connect(**server.params(db)) as conn:
            for want in wants:
                if want.connection["database"] != db:
                    continue
                table = want.desired["table"]
                row = conn.execute(_TABLES, {"schema": "public", "tables": [table]}).fetchall()
                oids = [r[0] for r in row if r[1] == table]
                conn.execute(_COLUMNS, {"oids": oids}).fetchall()
                conn.execute(_INDEXES, {"oids": oids}).fetchall()
                conn.execute(f'SELECT count(*) FROM "{table}"').fetchall()
            conn.rollback()


def load_vectors(server: PostgresServer, db: str, table: str, count: int, dim: int) -> None:
    rng = random.Random(11)
    with (
        psycopg.connect(**server.params(db)) as conn,
        conn.cursor() as cur,
        cur.copy(f'COPY "{table}" (id, embedding) FROM STDIN') as copy,
    ):
        for i in range(count):
            copy.write_row(
                (f"v{i}", "[" + ",".join(f"{rng.random():.5f}" for _ in range(dim)) + "]")
            )


def bench_reindex(server: PostgresServer, tmp: Path, vectors: int, dim: int, work_mem: str) -> None:
    db = server.database("reindex")
    ivf = f"- name: docs\n  store: reindex\n  dimension: {dim}\n  index: {{type: ivf, nlist: 1}}\n"
    path = stack_file(tmp / "reindex.yaml", server, [db], ivf)
    say: list[str] = []
    provider = PgvectorProvider(
        "bench", env={ENV: server.password}, progress=say.append, poll_seconds=5
    )
    apply_all(provider, path)
    started = time.perf_counter()
    load_vectors(server, db, "docs", vectors, dim)
    print(
        f"loaded {vectors:,} x {dim} vectors in {time.perf_counter() - started:.0f}s",
        file=sys.stderr,
    )
    hnsw = ivf.replace("{type: ivf, nlist: 1}", "{type: hnsw, m: 16, efConstruct: 64}")
    path = stack_file(tmp / "reindex.yaml", server, [db], hnsw)
    started = time.perf_counter()
    apply_all(provider, path)
    ours = time.perf_counter() - started
    print("\n".join(say[-3:]), file=sys.stderr)
    with psycopg.connect(**server.params(db), autocommit=True) as conn:
        conn.execute(f"SET maintenance_work_mem = '{work_mem}'")
        started = time.perf_counter()
        conn.execute(
            "CREATE INDEX CONCURRENTLY by_hand ON docs USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
        )
        conn.execute("DROP INDEX CONCURRENTLY by_hand")
        theirs = time.perf_counter() - started
    print(f"| re-index {vectors:,} x {dim} (IVFFlat -> HNSW m 16, ef_construction 64) |"
          f" {ours:.0f} s | {theirs:.0f} s | {theirs / ours:.2f}x |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--collections", type=int, default=200)
    parser.add_argument("--stores", type=int, default=4)
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--work-mem", default="1GB")
    parser.add_argument("--skip-reindex", action="store_true")
    args = parser.parse_args()
    os.environ["BENCH_WORK_MEM"] = args.work_mem
    server = start_postgres()
    tmp = Path(tempfile.mkdtemp(prefix="aiplane-bench-"))
    try:
        print("| measurement | aiplane | per-resource / by hand | ratio |")
        print("|---|---|---|---|")
        bench_plan(server, tmp, args.collections, args.stores, args.runs)
        if not args.skip_reindex:
            bench_reindex(server, tmp, args.vectors, args.dim, args.work_mem)
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
