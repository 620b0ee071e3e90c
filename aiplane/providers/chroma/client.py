"""A small Chroma v2 HTTP client (httpx): list, count, create, modify, delete collections.

Ownership lives in the collection's own metadata (``aiplane.stack``, ``aiplane.collection``),
so another stack's or another tool's collection of the same name is recognised and left alone.
Every failure is a ``StoreError`` located at the store's stack line, the token scrubbed.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from aiplane.providers.collection_def import Located
from aiplane.providers.credentials import SecretReader, StoreError, resolve, scrub

OWNER_KEYS = ("aiplane.stack", "aiplane.collection", "aiplane.dimension")
PAGE = 1000


class ChromaClient:
    """One store's tenant and database on one Chroma server."""

    def __init__(
        self,
        connection: Mapping[str, Any],
        where: Located,
        store: str,
        *,
        env: Mapping[str, str] | None = None,
        secrets: SecretReader | None = None,
    ) -> None:
        self.where, self.store = where, store
        self.url = str(connection["url"])
        self.token: str | None = None
        try:
            self.token = resolve(connection.get("token"), "token", env=env, secrets=secrets)
        except LookupError as exc:
            raise self._error(str(exc)) from None
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        base = (
            f"{self.url}/api/v2/tenants/{connection['tenant']}/databases/{connection['database']}"
        )
        self.http = httpx.Client(
            base_url=base, headers=headers, timeout=float(connection["timeout"])
        )

    def close(self) -> None:
        self.http.close()

    def _error(self, reason: str) -> StoreError:
        return StoreError(
            f"{self.where.prefix()}: store {self.store}: {scrub(reason, self.token if hasattr(self, 'token') else None)}"
        )

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request; a transport error or an error status is a located ``StoreError``."""
        try:
            response = self.http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise self._error(f"cannot reach {self.url}: {reason}") from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("message") or response.text
            except ValueError:
                detail = response.text
            raise self._error(f"{method} {path}: HTTP {response.status_code}: {detail[:300]}")
        return response.json() if response.content else None

    def collections(self) -> list[dict[str, Any]]:
        """Every collection of the database (paged)."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.call("GET", f"/collections?limit={PAGE}&offset={len(found)}") or []
            found += page
            if len(page) < PAGE:
                return found

    def counts(self, ids: list[str]) -> dict[str, int]:
        """Record counts per collection id, read concurrently."""
        with ThreadPoolExecutor(max_workers=8) as pool:
            values = pool.map(lambda i: int(self.call("GET", f"/collections/{i}/count")), ids)
            return dict(zip(ids, values, strict=True))

    def create(self, name: str, hnsw: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        body = {"name": name, "configuration": {"hnsw": dict(hnsw)}, "metadata": dict(metadata)}
        self.call("POST", "/collections", body)

    def modify(self, cid: str, ef_search: int, metadata: Mapping[str, Any]) -> None:
        body = {
            "new_metadata": dict(metadata),
            "new_configuration": {"hnsw": {"ef_search": ef_search}},
        }
        self.call("PUT", f"/collections/{cid}", body)

    def delete(self, name: str) -> None:
        self.call("DELETE", f"/collections/{name}")


def live_view(collection: Mapping[str, Any], rows: int | None) -> dict[str, Any]:
    """A collection as the plan compares it: HNSW settings, metadata, owner, dimension, count."""
    meta = dict(collection.get("metadata") or {})
    hnsw = ((collection.get("configuration_json") or {}).get("hnsw")) or {}
    owner = None
    if "aiplane.stack" in meta:
        owner = {"stack": meta["aiplane.stack"], "collection": meta.get("aiplane.collection")}
    return {
        "id": collection["id"],
        "name": collection["name"],
        "dimension": collection.get("dimension"),
        "recordedDimension": meta.get("aiplane.dimension"),
        "hnsw": {
            k: hnsw.get(k) for k in ("space", "max_neighbors", "ef_construction", "ef_search")
        },
        "metadata": {k: v for k, v in sorted(meta.items()) if k not in OWNER_KEYS},
        "owner": owner,
        "rows": rows,
    }


def owned_metadata(desired: Mapping[str, Any]) -> dict[str, Any]:
    """The user's metadata plus aiplane's ownership and declared dimension."""
    owner = desired["owner"]
    return {
        **desired["metadata"],
        "aiplane.stack": owner["stack"],
        "aiplane.collection": owner["collection"],
        "aiplane.dimension": desired["dimension"],
    }
