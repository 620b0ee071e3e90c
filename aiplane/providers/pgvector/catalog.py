"""Read collections back from PostgreSQL's catalog, in the shape render produces.

Everything comes from the server, not from what aiplane last wrote: the vector column's type and
dimension (``format_type``), each ANN index's access method, operator class, build parameters
(``pg_class.reloptions``), validity (``pg_index.indisvalid``: an interrupted concurrent build
leaves an invalid index behind) and the ownership comment. A whole store is read in four queries
whatever the number of collections.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg import Connection, sql

from aiplane.providers.collection_def import PG_DEFAULTS

ID, VECTOR = "id", "embedding"
INDEX_PREFIX = "ann_"

_TYPES = {
    "text": "text",
    "integer": "integer",
    "bigint": "bigint",
    "double precision": "double",
    "boolean": "boolean",
    "jsonb": "jsonb",
    "timestamp with time zone": "timestamptz",
}

_TABLES = """
SELECT c.oid, c.relname, c.relkind, obj_description(c.oid, 'pg_class')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND (c.relname = ANY(%(tables)s) OR obj_description(c.oid, 'pg_class') LIKE '{"aiplane":%%')
"""

_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
WHERE a.attrelid = ANY(%(oids)s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

_INDEXES = """
SELECT ix.indrelid, i.relname, am.amname, ix.indisvalid, i.reloptions, opc.opcname,
       pg_get_indexdef(i.oid)
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
JOIN pg_am am ON am.oid = i.relam
LEFT JOIN pg_opclass opc ON opc.oid = ix.indclass[0]
WHERE ix.indrelid = ANY(%(oids)s) AND am.amname IN ('hnsw', 'ivfflat')
ORDER BY ix.indrelid, i.oid
"""


def owner_of(comment: str | None) -> dict[str, Any] | None:
    """The ``aiplane`` record of a table comment, or None for a table aiplane did not create."""
    if not comment:
        return None
    try:
        doc = json.loads(comment)
    except ValueError:
        return None
    owner = doc.get("aiplane") if isinstance(doc, dict) else None
    return owner if isinstance(owner, dict) else None


def owner_comment(owner: dict[str, Any]) -> str:
    """The table comment that records ownership and the query-time defaults."""
    return json.dumps({"aiplane": owner}, sort_keys=True, separators=(",", ":"))


def index_name(table: str, index: dict[str, Any]) -> str:
    """A name unique to the index definition, so a new build never collides with the old."""
    import hashlib

    digest = hashlib.sha256(json.dumps(index, sort_keys=True).encode()).hexdigest()[:8]
    return f"{table[: 63 - len(INDEX_PREFIX) - 9]}_{INDEX_PREFIX}{digest}"


def read_store(conn: Connection[Any], schema: str, tables: list[str]) -> dict[str, dict[str, Any]]:
    """Live definitions keyed by table: the named tables plus every aiplane-owned one."""
    found = conn.execute(_TABLES, {"schema": schema, "tables": tables}).fetchall()
    oids = [row[0] for row in found]
    columns: dict[int, list[tuple[str, str]]] = {}
    for oid, name, typ in conn.execute(_COLUMNS, {"oids": oids}).fetchall():
        columns.setdefault(oid, []).append((name, typ))
    indexes: dict[int, list[dict[str, Any]]] = {}
    for row in conn.execute(_INDEXES, {"oids": oids}).fetchall():
        indexes.setdefault(row[0], []).append(_index(row[1:]))
    live: dict[str, dict[str, Any]] = {}
    for oid, name, kind, comment in found:
        live[name] = _table(schema, name, kind, comment, columns.get(oid, []), indexes.get(oid, []))
    _count_rows(conn, schema, live)
    if not conn.autocommit:
        conn.rollback()
    return live


def _table(
    schema: str,
    name: str,
    kind: str,
    comment: str | None,
    columns: list[tuple[str, str]],
    indexes: list[dict[str, Any]],
) -> dict[str, Any]:
    types = dict(columns)
    vector_type = types.get(VECTOR, "")
    dimension = int(vector_type[7:-1]) if vector_type.startswith("vector(") else None
    ours = [i for i in indexes if INDEX_PREFIX in i["name"]]
    valid = [i for i in ours if i["valid"]]
    return {
        "schema": schema,
        "table": name,
        "kind": kind,
        "owner": owner_of(comment),
        "columns": types,
        "dimension": dimension,
        "payload": {n: _TYPES.get(t, t) for n, t in columns if n not in (ID, VECTOR)},
        # The newest valid index aiplane built serves; older valid ones and invalid leftovers of
        # an interrupted build are dropped by the next re-index.
        "index": _definition(valid[-1]) if valid else None,
        "indexName": valid[-1]["name"] if valid else None,
        "stale": sorted(i["name"] for i in ours if i is not (valid[-1] if valid else None)),
        "rows": None,
    }


def _index(row: tuple[Any, ...]) -> dict[str, Any]:
    name, method, valid, reloptions, opclass, indexdef = row
    params: dict[str, int] = {}
    for option in reloptions or []:
        key, _, value = option.partition("=")
        params[key] = int(value)
    # An index built without options has the access method's defaults.
    defaults = ("m", "ef_construction") if method == "hnsw" else ("lists",)
    for key in defaults:
        params.setdefault(key, PG_DEFAULTS[key])
    return {
        "name": name,
        "method": method,
        "valid": bool(valid),
        "opclass": opclass,
        "cast": "halfvec" if "::halfvec" in indexdef else None,
        "params": params,
    }


def _definition(index: dict[str, Any]) -> dict[str, Any]:
    return {k: index[k] for k in ("method", "opclass", "cast", "params")}


def _count_rows(conn: Connection[Any], schema: str, live: dict[str, dict[str, Any]]) -> None:
    # Only aiplane's tables: another tool's table is never touched, not even counted.
    tables = [t for t, d in live.items() if d["kind"] in ("r", "p") and d["owner"] is not None]
    if not tables:
        return
    parts = [
        sql.SQL("SELECT {}::text, count(*) FROM {}.{}").format(
            sql.Literal(t), sql.Identifier(schema), sql.Identifier(t)
        )
        for t in tables
    ]
    for table, rows in conn.execute(sql.SQL(" UNION ALL ").join(parts)).fetchall():
        live[table]["rows"] = int(rows)
