"""A real Chroma server (``chroma run``, the Rust server inside the ``chromadb`` wheel).

Pinned in its own venv (tests/servers/support.py), started on a free loopback port with
telemetry off, stopped by PID. One server per session; tests use their own collection names.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.support import ServerProcess, free_port, http_ok, server_venv

REQUIREMENTS = ["chromadb==1.5.9"]


@dataclass
class ChromaServer:
    root: Path
    port: int
    proc: ServerProcess
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def collections_url(self) -> str:
        return f"{self.url}/api/v2/tenants/default_tenant/databases/default_database/collections"


def start_chroma() -> ChromaServer:
    """Install (cached) and start a server; the caller stops it."""
    venv = server_venv("chroma", REQUIREMENTS)
    root = Path(tempfile.mkdtemp(prefix="aiplane-chroma-"))
    port = free_port()
    argv = [
        str(venv / "bin/chroma"),
        "run",
        "--path",
        str(root / "data"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    env = {"ANONYMIZED_TELEMETRY": "False", "NO_COLOR": "1"}
    proc = ServerProcess("chroma", argv, root / "chroma.log", env=env).start()
    server = ChromaServer(root, port, proc)
    try:
        proc.wait_ready(lambda: http_ok(f"{server.url}/api/v2/heartbeat"), timeout=90)
    except BaseException:
        proc.stop()
        raise
    return server


@pytest.fixture(scope="session")
def chroma_server() -> Iterator[ChromaServer]:
    """The session's Chroma server; a failure to install or start fails the tests."""
    server = start_chroma()
    try:
        yield server
    finally:
        server.proc.stop()
        shutil.rmtree(server.root, ignore_errors=True)
