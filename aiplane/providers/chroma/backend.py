"""Chroma behind the plan core's Provider protocol (registered as ``chroma``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiplane.providers.base import ProviderContext
from aiplane.providers.chroma import classify as rules
from aiplane.providers.chroma.client import ChromaClient, live_view, owned_metadata
from aiplane.providers.collection_def import CollectionDef
from aiplane.providers.collections_base import CollectionProvider, Table, secret_reader
from aiplane.providers.credentials import StoreError
from aiplane.providers.vector_change import CollectionChange


class ChromaBackend:
    """Reads a store's collections in one listing, classifies and applies over HTTP."""

    def __init__(self, context: ProviderContext, env: Mapping[str, str] | None = None) -> None:
        self.context = context
        self.env = env

    def client(self, want: CollectionDef) -> ChromaClient:
        return ChromaClient(
            want.connection,
            want.store_where,
            want.store,
            env=self.env,
            secrets=secret_reader(self.context, want.namespace),
        )

    def read_store(self, wants: Sequence[CollectionDef]) -> dict[str, Table]:
        wanted = {w.name for w in wants}
        client = self.client(wants[0])
        try:
            found = client.collections()
            views = {c["name"]: live_view(c, None) for c in found}
            mine = {
                name: view
                for name, view in views.items()
                if name in wanted or (view["owner"] or {}).get("stack") == self.context.stack
            }
            # Only aiplane's collections are counted: another tool's is never touched.
            owned = [v["id"] for v in mine.values() if v["owner"] is not None]
            counts = client.counts(owned)
        finally:
            client.close()
        out: dict[str, Table] = {}
        for name, view in mine.items():
            view["rows"] = counts.get(view["id"])
            key = name if name in wanted else str((view["owner"] or {}).get("collection") or name)
            out[key] = view
        return out

    def classify(self, want: CollectionDef, live: Table | None) -> CollectionChange | None:
        return rules.classify(want, live)

    def deletion(self, store: str, live: Table) -> CollectionChange:
        return rules.deletion(store, live)

    def view(self, definition: Mapping[str, Any] | None) -> dict[str, Any]:
        """HNSW settings, metadata and dimension, comparable between desired and live."""
        if definition is None:
            return {}
        dimension = definition.get("dimension") or definition.get("recordedDimension")
        return {
            "dimension": dimension,
            "hnsw": dict(definition.get("hnsw") or {}),
            "metadata": dict(definition.get("metadata") or {}),
        }

    def apply(
        self, change: CollectionChange, want: CollectionDef | None, store: CollectionDef
    ) -> None:
        client = self.client(store)
        try:
            self._apply(client, change, want)
        finally:
            client.close()

    def _apply(
        self, client: ChromaClient, change: CollectionChange, want: CollectionDef | None
    ) -> None:
        live = change.live
        if change.action in ("replace", "delete"):
            assert live is not None
            allow_rows = change.action == "delete" or bool(want and want.recreate_on_change)
            self._recheck(client, change, live, allow_rows=allow_rows)
            client.delete(live["name"])
            if change.action == "delete":
                return
        assert want is not None
        desired = want.desired
        if change.action in ("create", "replace"):
            client.create(desired["name"], desired["hnsw"], owned_metadata(desired))
        elif change.action == "update":
            assert live is not None
            client.modify(live["id"], desired["hnsw"]["ef_search"], owned_metadata(desired))

    def _recheck(
        self, client: ChromaClient, change: CollectionChange, live: Table, *, allow_rows: bool
    ) -> None:
        """Right before dropping: still the same collection, still ours, still allowed."""
        now = client.call("GET", f"/collections/{live['name']}")
        view = live_view(now, None)
        if view["id"] != live["id"] or view["owner"] != live["owner"]:
            raise StoreError(f"collection {change.name}: changed since the plan; nothing deleted")
        rows = int(client.call("GET", f"/collections/{live['id']}/count"))
        if rows and not allow_rows:
            raise StoreError(
                f"collection {change.name}: holds {rows:,} vectors and recreateOnChange is not"
                " set; nothing deleted"
            )


def make_provider(context: ProviderContext) -> CollectionProvider:
    """Registry factory: connects lazily, per store, when the plan reads."""
    return CollectionProvider("chroma", context, ChromaBackend(context))
