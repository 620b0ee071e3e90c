"""Vector-collection tests run against a real PostgreSQL + pgvector and a real Chroma server."""

from __future__ import annotations

from tests.servers.chroma import chroma_server
from tests.servers.postgres import postgres_server

__all__ = ["chroma_server", "postgres_server"]
