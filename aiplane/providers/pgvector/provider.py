"""pgvector as a provider: read every store concurrently, classify, apply, pin.

One connection per store reads all of its collections in a handful of catalog queries, and the
stores are read in parallel, so planning hundreds of collections costs a few round trips.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aiplane.providers.collection_def import CollectionDef
from aiplane.providers.credentials import SecretReader, StoreError
from aiplane.providers.pgvector.apply import Progress, apply_in_transaction, reindex
from aiplane.providers.pgvector.catalog import read_store
from aiplane.providers.pgvector.classify import OwnershipConflict, classify, deletion
from aiplane.providers.pgvector.connect import connect
from aiplane.providers.vector_change import CollectionChange, pin_of

NAME = "pgvector"


@dataclass
class PgvectorProvider:
    """Plans and applies the pgvector collections of one stack."""

    stack: str
    env: Mapping[str, str] | None = None
    secrets: SecretReader | None = None
    progress: Progress = field(default=lambda text: None)
    poll_seconds: float = 1.0
    """How often a re-index reports its progress."""

    def _connect(self, want: CollectionDef, *, autocommit: bool = False) -> Any:
        return connect(
            want.connection,
            want.store_where,
            want.store,
            env=self.env,
            secrets=self.secrets,
            autocommit=autocommit,
        )

    def read(self, wants: Sequence[CollectionDef]) -> dict[str, dict[str, dict[str, Any]]]:
        """Live tables per store (named ones and every aiplane-owned one), stores in parallel."""
        by_store: dict[str, list[CollectionDef]] = {}
        for want in wants:
            by_store.setdefault(want.store, []).append(want)

        def read_one(group: list[CollectionDef]) -> dict[str, dict[str, Any]]:
            with self._connect(group[0]) as conn:
                schema = group[0].desired["schema"]
                return read_store(conn, schema, [w.desired["table"] for w in group])

        with ThreadPoolExecutor(max_workers=min(8, len(by_store) or 1)) as pool:
            results = pool.map(read_one, by_store.values())
            return dict(zip(by_store, results, strict=True))

    def plan(
        self, wants: Sequence[CollectionDef], *, prune_stores: Sequence[CollectionDef] = ()
    ) -> list[CollectionChange]:
        """Changes for ``wants``; owned tables of this stack that left it become deletions.

        ``prune_stores`` adds stores (one representative collection each) to look for such
        tables in even when the stack declares no collection there any more.
        """
        live = self.read([*wants, *prune_stores])
        changes: list[CollectionChange] = []
        problems: list[str] = []
        for want in wants:
            found = live[want.store].get(want.desired["table"])
            try:
                change = classify(want, found)
            except OwnershipConflict as exc:
                problems.append(f"{want.where.prefix()}: {exc}")
                continue
            if change is not None:
                changes.append(change)
        if problems:
            raise StoreError("\n".join(problems))
        wanted = {(w.store, w.desired["table"]) for w in wants}
        for store, tables in live.items():
            for table, definition in sorted(tables.items()):
                owner = definition["owner"] or {}
                if owner.get("stack") == self.stack and (store, table) not in wanted:
                    changes.append(deletion(self.stack, store, definition))
        return changes

    def pin(self, wants: Sequence[CollectionDef], change: CollectionChange) -> str | None:
        """The live definition's hash now, for refusing a stale saved plan."""
        want = next(w for w in wants if w.store == change.store)
        source = change.live or change.desired or {}
        return pin_of(self.read([want])[change.store].get(str(source.get("table"))))

    def apply(
        self, change: CollectionChange, want: CollectionDef | None, store_want: CollectionDef
    ) -> None:
        """Carry out ``change``; ``store_want`` is any collection of its store (to connect)."""
        if change.action == "reindex":
            assert want is not None
            reindex(
                lambda: self._connect(want, autocommit=True),
                change,
                want,
                self.progress,
                maintenance_work_mem=want.connection.get("maintenanceWorkMem"),
                poll_seconds=self.poll_seconds,
            )
            return
        with self._connect(store_want) as conn:
            try:
                apply_in_transaction(conn, change, want)
            except StoreError:
                raise
            except Exception as exc:  # a server error: one line, nothing half-made
                import psycopg

                if not isinstance(exc, psycopg.Error):
                    raise
                reason = " ".join(str(exc).split())
                raise StoreError(
                    f"collection {change.name}: {change.action} failed ({reason}); rolled back"
                ) from None


PgvectorFactory = Callable[[str], PgvectorProvider]
