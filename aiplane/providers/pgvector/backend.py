"""pgvector behind the plan core's Provider protocol (registered as ``pgvector``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiplane.providers.base import ProviderContext
from aiplane.providers.collection_def import CollectionDef
from aiplane.providers.collections_base import (
    CollectionProvider,
    Table,
    secret_reader,
    stderr_progress,
)
from aiplane.providers.pgvector import classify as rules
from aiplane.providers.pgvector.catalog import read_store
from aiplane.providers.pgvector.provider import PgvectorProvider
from aiplane.providers.vector_change import CollectionChange


class PgvectorBackend:
    """Reads a store's tables, classifies and applies, through ``PgvectorProvider``."""

    def __init__(self, context: ProviderContext) -> None:
        self.context = context
        self.progress = stderr_progress(context.scrubber)

    def _pg(self, want: CollectionDef) -> PgvectorProvider:
        secrets = secret_reader(self.context, want.namespace)
        return PgvectorProvider(self.context.stack, secrets=secrets, progress=self.progress)

    def read_store(self, wants: Sequence[CollectionDef]) -> dict[str, Table]:
        first = wants[0]
        by_table = {w.desired["table"]: w.name for w in wants}
        with self._pg(first)._connect(first) as conn:
            tables = read_store(conn, first.desired["schema"], list(by_table))
        out: dict[str, Table] = {}
        for table, live in tables.items():
            owner = live.get("owner") or {}
            name = by_table.get(table) or str(owner.get("collection") or table)
            out[name] = live
        return out

    def classify(self, want: CollectionDef, live: Table | None) -> CollectionChange | None:
        return rules.classify(want, live)

    def deletion(self, store: str, live: Table) -> CollectionChange:
        return rules.deletion(self.context.stack, store, live)

    def view(self, definition: Mapping[str, Any] | None) -> dict[str, Any]:
        """dimension, payload, index and query defaults (and leftovers of dead builds)."""
        if definition is None:
            return {}
        owner = definition.get("owner") or {}
        return {
            "dimension": definition.get("dimension"),
            "payload": dict(definition.get("payload") or {}),
            "index": definition.get("index"),
            "query": owner.get("query"),
            "leftoverIndexes": list(definition.get("stale") or []),
        }

    def apply(
        self, change: CollectionChange, want: CollectionDef | None, store: CollectionDef
    ) -> None:
        self._pg(store).apply(change, want, store)


def make_provider(context: ProviderContext) -> CollectionProvider:
    """Registry factory: connects lazily, per store, when the plan reads."""
    return CollectionProvider("pgvector", context, PgvectorBackend(context))
