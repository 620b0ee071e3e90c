"""``aiplane plan`` / ``apply`` with collections in real databases (pgvector, Chroma).

The stack's state and lock live in the real local control plane; the collections in the
session's real PostgreSQL + pgvector and Chroma servers. The CLI runs as a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.servers.chroma import ChromaServer, chroma_server
from tests.servers.postgres import PostgresServer, postgres_server
from tests.vector.pg_support import count, insert_vectors, sql

__all__ = ["chroma_server", "postgres_server"]

pytestmark = [pytest.mark.cluster, pytest.mark.pgvector]
REPO = Path(__file__).resolve().parents[2]
PASSWORD_ENV = "AIPLANE_TEST_PG_PASSWORD"


def aiplane(
    kubeconfig: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aiplane", *args],
        cwd=REPO,
        env={
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "NO_COLOR": "1",
            "COLUMNS": "1000",
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )


def short_name(prefix: str) -> str:
    """A stack (and namespace, and database) name unique to one test run."""
    import uuid

    return f"{prefix}{uuid.uuid4().hex[:8]}"


def write_stack(path: Path, name: str, pg: PostgresServer, database: str, collections: str) -> str:
    text = f"""\
    apiVersion: aiplane.dev/v1alpha1
    kind: Stack
    metadata:
      name: {name}
      namespace: {name}
    spec:
      vectorStores:
        - name: pg
          pgvector:
            host: 127.0.0.1
            port: {pg.port}
            database: {database}
            user: postgres
            password: {{env: {PASSWORD_ENV}}}
            sslmode: disable
      vectorCollections:
    """
    path.write_text(textwrap.dedent(text) + textwrap.indent(textwrap.dedent(collections), "    "))
    return str(path)


DOCS = """\
- name: docs
  store: pg
  dimension: 8
  index: {type: hnsw, m: 16, efConstruct: 64}
"""


def test_plan_and_apply_pgvector_collections_through_the_cli(
    tmp_path: Path, kubeconfig: Path, postgres_server: PostgresServer
) -> None:
    namespace = short_name("vcli")
    db = postgres_server.database(namespace)
    env = {PASSWORD_ENV: postgres_server.password}
    stack = tmp_path / "stack.yaml"
    path = write_stack(stack, namespace, postgres_server, db, DOCS)

    applied = aiplane(kubeconfig, "apply", path, "--yes", env=env)
    assert applied.returncode == 0, applied.stderr + applied.stdout
    assert "collection pg/docs" in applied.stdout
    assert sql(postgres_server, db, "SELECT to_regclass('docs') IS NOT NULL") == [(True,)]
    again = aiplane(kubeconfig, "plan", path, "--detailed-exitcode", env=env)
    assert again.returncode == 0, again.stdout + again.stderr

    # An immutable change on a collection holding 1,000 vectors.
    insert_vectors(postgres_server, db, "docs", 1000, 8)
    write_stack(
        stack, namespace, postgres_server, db, DOCS.replace("dimension: 8", "dimension: 16")
    )
    blocked = aiplane(kubeconfig, "plan", path, "--detailed-exitcode", env=env)
    assert blocked.returncode == 3, blocked.stdout + blocked.stderr
    assert "dimension 8 -> 16 (replace: 1,000 vectors would be lost)" in blocked.stdout
    assert "recreateOnChange is not set" in blocked.stdout + blocked.stderr
    refused = aiplane(kubeconfig, "apply", path, "--yes", "--allow-delete", env=env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "nothing dropped" in refused.stdout + refused.stderr
    assert count(postgres_server, db, "docs") == 1000

    write_stack(
        stack, namespace, postgres_server, db,
        DOCS.replace("dimension: 8", "dimension: 16") + "  recreateOnChange: true\n",
    )  # fmt: skip
    plan_file = tmp_path / "plan.json"
    saved = aiplane(kubeconfig, "plan", path, "--allow-delete", "--out", str(plan_file), env=env)
    assert saved.returncode == 0, saved.stdout + saved.stderr
    assert count(postgres_server, db, "docs") == 1000
    replaced = aiplane(kubeconfig, "apply", str(plan_file), "--allow-delete", env=env)
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    assert count(postgres_server, db, "docs") == 0
    assert aiplane(kubeconfig, "plan", path, "--detailed-exitcode", env=env).returncode == 0

    # A saved plan is refused once the table changed out of band.
    write_stack(
        stack,
        namespace,
        postgres_server,
        db,
        DOCS.replace("dimension: 8", "dimension: 16").replace("m: 16", "m: 20")
        + "  recreateOnChange: true\n",
    )
    saved = aiplane(kubeconfig, "plan", path, "--out", str(plan_file), env=env)
    assert saved.returncode == 0, saved.stdout + saved.stderr
    [(index,)] = sql(
        postgres_server,
        db,
        "SELECT indexname FROM pg_indexes WHERE tablename = 'docs' AND indexname LIKE '%ann%'",
    )
    sql(postgres_server, db, f'DROP INDEX "{index}"')
    stale = aiplane(kubeconfig, "apply", str(plan_file), env=env)
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "plan is stale: collection pg/docs changed since the plan" in stale.stderr
    fixed = aiplane(kubeconfig, "apply", path, "--yes", env=env)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    options = sql(
        postgres_server,
        db,
        "SELECT c.reloptions FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE i.indrelid = 'docs'::regclass AND c.relname LIKE '%ann%'",
    )
    assert [sorted(o) for (o,) in options] == [["ef_construction=64", "m=20"]]


def test_a_wrong_password_is_one_located_line_and_exit_1(
    tmp_path: Path, kubeconfig: Path, postgres_server: PostgresServer
) -> None:
    namespace = short_name("vpw")
    db = postgres_server.database(namespace)
    path = write_stack(tmp_path / "stack.yaml", namespace, postgres_server, db, DOCS)
    wrong = "wrong-" + postgres_server.password[::-1]
    res = aiplane(kubeconfig, "apply", path, "--yes", env={PASSWORD_ENV: wrong})
    assert res.returncode == 1, res.stdout + res.stderr
    lines = [line for line in res.stderr.splitlines() if "store pg" in line]
    assert len(lines) == 1, res.stderr
    assert f"{path}:8:7: spec.vectorStores[0]: store pg: " in lines[0]
    assert "password authentication failed" in lines[0]
    assert wrong not in res.stdout + res.stderr
    assert sql(
        postgres_server, db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
    ) == [(0,)]
    assert "Traceback" not in res.stderr


def test_chroma_collection_through_the_cli(
    tmp_path: Path, kubeconfig: Path, chroma_server: ChromaServer
) -> None:
    import httpx

    name = short_name("vch")
    text = f"""\
    apiVersion: aiplane.dev/v1alpha1
    kind: Stack
    metadata:
      name: {name}
      namespace: {name}
    spec:
      vectorStores:
        - name: ch
          chroma: {{url: {chroma_server.url}}}
      vectorCollections:
        - name: {name}
          store: ch
          dimension: 8
          index: {{type: hnsw, m: 16, efConstruct: 100, efSearch: 40}}
    """
    path = tmp_path / "chroma.yaml"
    path.write_text(textwrap.dedent(text))
    applied = aiplane(kubeconfig, "apply", str(path), "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    live = httpx.get(f"{chroma_server.collections_url()}/{name}", timeout=10).json()
    assert live["configuration_json"]["hnsw"]["ef_search"] == 40
    assert live["metadata"]["aiplane.stack"] == name
    assert aiplane(kubeconfig, "plan", str(path), "--detailed-exitcode").returncode == 0
    path.write_text(textwrap.dedent(text).replace("efSearch: 40", "efSearch: 90"))
    changed = aiplane(kubeconfig, "plan", str(path), "--detailed-exitcode")
    assert changed.returncode == 2, changed.stdout + changed.stderr
    assert "hnsw.ef_search 40 -> 90 (in place)" in changed.stdout
