"""Carry out one planned pgvector change, re-checking on the live table what makes it safe.

Create, update, replace and delete each run in one transaction (PostgreSQL DDL is
transactional), so a failure leaves nothing half-made. A re-index runs outside a transaction:
``CREATE INDEX CONCURRENTLY`` builds the new index while the old one keeps serving reads and
writes; only once the new one is valid is the old one dropped. A build that dies (the server
killed, the connection lost) leaves an invalid index the next run drops, and the old index is
still the one queries use.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from psycopg import Connection, sql

from aiplane.providers.collection_def import CollectionDef
from aiplane.providers.credentials import StoreError
from aiplane.providers.pgvector import ddl
from aiplane.providers.pgvector.catalog import owner_of
from aiplane.providers.vector_change import CollectionChange

Progress = Callable[[str], None]

_PROGRESS = """
SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total
FROM pg_stat_progress_create_index WHERE pid = %s
"""


def apply_in_transaction(
    conn: Connection[Any], change: CollectionChange, want: CollectionDef | None
) -> None:
    """create / update / replace / delete, all or nothing."""
    with conn.transaction():
        if change.action == "create":
            assert want is not None
            _create(conn, want.desired)
        elif change.action == "update":
            assert want is not None and change.live is not None
            _update(conn, want.desired, change.live)
        elif change.action == "replace":
            assert want is not None and change.live is not None
            _recheck(conn, change, allow_rows=want.recreate_on_change)
            conn.execute(sql.SQL("DROP TABLE {}").format(ddl.table_ident(change.live)))
            _create(conn, want.desired)
        elif change.action == "delete":
            assert change.live is not None
            _recheck(conn, change, allow_rows=True)
            conn.execute(sql.SQL("DROP TABLE {}").format(ddl.table_ident(change.live)))


def _create(conn: Connection[Any], desired: dict[str, Any]) -> None:
    for statement in ddl.create_table(desired):
        conn.execute(statement)
    # The table is new and empty and the transaction holds it: a plain build is instant.
    conn.execute(ddl.create_index(desired, concurrently=False)[1])


def _update(conn: Connection[Any], desired: dict[str, Any], live: dict[str, Any]) -> None:
    for column in sorted(set(desired["payload"]) - set(live["payload"])):
        conn.execute(ddl.add_column(desired, column))
    conn.execute(ddl.comment(desired))


def _recheck(conn: Connection[Any], change: CollectionChange, *, allow_rows: bool) -> None:
    """Lock the table and confirm, inside the transaction, that dropping it is still allowed."""
    assert change.live is not None
    table = ddl.table_ident(change.live)
    conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(table))
    row = conn.execute(
        "SELECT obj_description(%s::regclass, 'pg_class')",
        (f'"{change.live["schema"]}"."{change.live["table"]}"',),
    ).fetchone()
    owner = owner_of(row[0] if row else None)
    if owner is None or owner != change.live["owner"]:
        raise StoreError(
            f"collection {change.name}: ownership changed since the plan; nothing dropped"
        )
    count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
    rows = int(count[0]) if count else 0
    if rows and not allow_rows:
        raise StoreError(
            f"collection {change.name}: now holds {rows:,} vectors and recreateOnChange is not set;"
            " nothing dropped"
        )


def reindex(
    connect: Callable[[], Connection[Any]],
    change: CollectionChange,
    want: CollectionDef,
    progress: Progress,
    *,
    maintenance_work_mem: str | None = None,
    poll_seconds: float = 1.0,
) -> str:
    """Build the desired index concurrently, then drop the one it replaces; its name."""
    live = change.live
    assert live is not None
    desired = want.desired
    builder = connect()
    watcher = connect()
    try:
        if maintenance_work_mem:
            builder.execute(
                sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(maintenance_work_mem))
            )
        name, create = ddl.create_index(desired, concurrently=True)
        for stale in live["stale"]:
            builder.execute(ddl.drop_index(live["schema"], stale, concurrently=True))
        _build_watched(
            builder,
            watcher,
            create,
            lambda text: progress(f"collection {want.name}: {text}"),
            poll_seconds,
        )
        valid = watcher.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = %s::regclass",
            (f'"{desired["schema"]}"."{name}"',),
        ).fetchone()
        if not valid or not valid[0]:
            raise StoreError(
                f"collection {want.name}: new index {name} is not valid; the old one still serves"
            )
        old = live["indexName"]
        if old and old != name:
            builder.execute(ddl.drop_index(live["schema"], old, concurrently=True))
        if live["owner"] != desired["owner"] or not set(desired["payload"]) <= set(live["payload"]):
            with builder.transaction():
                _update(builder, desired, live)
        return name
    finally:
        builder.close()
        watcher.close()


def _build_watched(
    builder: Connection[Any],
    watcher: Connection[Any],
    create: sql.Composed,
    progress: Progress,
    poll_seconds: float,
) -> None:
    """Run ``create`` on ``builder`` while ``watcher`` reports its progress."""
    pid = builder.info.backend_pid
    failure: list[BaseException] = []

    def build() -> None:
        try:
            builder.execute(create)
        except BaseException as exc:  # reported in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=build, name="aiplane-reindex", daemon=True)
    started = time.monotonic()
    thread.start()
    last = ""
    while thread.is_alive():
        thread.join(poll_seconds)
        try:
            row = watcher.execute(_PROGRESS, (pid,)).fetchone()
        except Exception:  # the watcher's server went away too; the builder reports why
            break
        text = _progress_text(row, time.monotonic() - started)
        if text and text != last:
            progress(text)
            last = text
    thread.join()
    if failure:
        reason = " ".join(str(failure[0]).split())
        raise StoreError(
            f"re-index interrupted ({reason}); the old index still serves, rerun apply to finish"
        )


def _progress_text(row: tuple[Any, ...] | None, elapsed: float) -> str:
    if row is None:
        return ""
    phase, blocks_done, blocks_total, tuples_done, tuples_total = row
    if tuples_total:
        share = f" {100 * tuples_done / tuples_total:.0f}% of {tuples_total:,} vectors"
    elif blocks_total:
        share = f" {100 * blocks_done / blocks_total:.0f}% of {blocks_total:,} blocks"
    else:
        share = ""
    return f"re-index: {phase}{share} ({elapsed:.0f}s)"
