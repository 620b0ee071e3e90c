"""Helpers for the Chroma tests: stacks pointing at the session server, and the Provider
protocol driven directly (prepare, read, plan, prune, pin, apply), as the plan engine does."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path
from typing import Any

import httpx

from aiplane.check import load_and_check
from aiplane.plan.model import Change
from aiplane.providers.base import Live, ProviderContext, Resource
from aiplane.providers.chroma.backend import ChromaBackend
from aiplane.providers.collections_base import CollectionProvider
from aiplane.render.vector_collections import collection_resources
from aiplane.secrets import Scrubber
from tests.servers.chroma import ChromaServer


def chroma_stack(
    tmp_path: Path, server: ChromaServer, collections: str, *, stack: str = "t", url: str = ""
) -> str:
    head = f"""\
    apiVersion: aiplane.dev/v1alpha1
    kind: Stack
    metadata:
      name: {stack}
    spec:
      vectorStores:
        - name: ch
          chroma:
            url: {url or server.url}
            timeoutSeconds: 5
      vectorCollections:
    """
    path = tmp_path / f"{stack}.yaml"
    path.write_text(textwrap.dedent(head) + textwrap.indent(textwrap.dedent(collections), "    "))
    return str(path)


class Driver:
    """One stack's Chroma provider, driven like the plan engine drives it."""

    def __init__(self, path: str) -> None:
        loaded = load_and_check(path)
        self.resources = collection_resources(loaded)
        context = ProviderContext(
            loaded.stack.metadata.name, path, Scrubber(), rendered=self.resources
        )
        self.provider = CollectionProvider("chroma", context, ChromaBackend(context))
        self.wanted = self.provider.prepare(self.resources)

    def read(self) -> Live:
        return self.provider.read(self.wanted, {})

    def plan(self) -> tuple[list[Change], Live]:
        live = self.read()
        changes = self.provider.plan(self.wanted, live) + self.provider.prune(self.wanted, live)
        return [c for c in changes if c.changing], live

    def apply(self) -> list[Change]:
        changes, live = self.plan()
        by_address: dict[Any, Resource] = {r.address: r for r in self.wanted}
        for change in changes:
            self.provider.apply(change, by_address.get(change.address), live)
        return changes


def api(server: ChromaServer, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, server.collections_url() + path, json=body, timeout=30)
    response.raise_for_status()
    return response.json() if response.content else None


def add_vectors(server: ChromaServer, name: str, count: int, dim: int) -> None:
    cid = api(server, "GET", f"/{name}")["id"]
    rng = random.Random(3)
    for start in range(0, count, 250):
        ids = [f"v{i}" for i in range(start, min(count, start + 250))]
        vectors = [[rng.random() for _ in range(dim)] for _ in ids]
        api(server, "POST", f"/{cid}/add", {"ids": ids, "embeddings": vectors})


def count(server: ChromaServer, name: str) -> int:
    cid = api(server, "GET", f"/{name}")["id"]
    return int(api(server, "GET", f"/{cid}/count"))
