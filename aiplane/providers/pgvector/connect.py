"""Connecting to a pgvector store: libpq parameters from the stack, errors as one located line."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiplane.providers.credentials import SecretReader, StoreError, resolve, scrub

if TYPE_CHECKING:
    import psycopg

    from aiplane.providers.collection_def import Located


def connect(
    connection: Mapping[str, Any],
    where: Located,
    store: str,
    *,
    env: Mapping[str, str] | None = None,
    secrets: SecretReader | None = None,
    autocommit: bool = False,
) -> psycopg.Connection[Any]:
    """An open connection to the store, with the ``vector`` extension checked.

    Every failure (bad credentials, unreachable server, no extension) is a ``StoreError`` whose
    message is ``FILE:LINE:COL: spec.vectorStores[i]: store NAME: reason``, secrets scrubbed.
    """
    import psycopg

    try:
        password = resolve(connection.get("password"), "password", env=env, secrets=secrets)
    except LookupError as exc:
        raise _located(where, store, str(exc)) from None
    params: dict[str, Any] = {
        "host": connection["host"],
        "port": connection["port"],
        "dbname": connection["database"],
        "user": connection["user"],
        "sslmode": connection["sslmode"],
        "connect_timeout": connection["connectTimeout"],
        "application_name": "aiplane",
    }
    if password is not None:
        params["password"] = password
    try:
        conn = psycopg.connect(autocommit=autocommit, **params)
    except psycopg.Error as exc:
        raise _located(where, store, _reason(exc, connection, password)) from None
    try:
        _check_extension(conn, connection["database"])
    except StoreError as exc:
        conn.close()
        raise _located(where, store, str(exc)) from None
    return conn


def _check_extension(conn: psycopg.Connection[Any], database: str) -> None:
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    if not conn.autocommit:
        conn.rollback()
    if row is None:
        raise StoreError(
            f"the vector extension is not installed in database {database}"
            " (its owner runs CREATE EXTENSION vector; aiplane does not)"
        )


def _located(where: Located, store: str, reason: str) -> StoreError:
    return StoreError(f"{where.prefix()}: store {store}: {reason}")


def _reason(exc: Exception, connection: Mapping[str, Any], password: str | None) -> str:
    """The server's reason on one line: libpq's text without its prefixes, secrets scrubbed."""
    text = " ".join(str(exc).split())
    text = re.sub(r"^connection failed: ", "", text)
    text = re.sub(r'connection to server at "[^"]*"(?: \([^)]*\))?, port \d+ failed: ', "", text)
    text = text.replace("FATAL: ", "").replace(" Is the server running", "; is the server running")
    where = f"{connection['host']}:{connection['port']}"
    return scrub(f"cannot connect to {where}/{connection['database']}: {text}", password)
