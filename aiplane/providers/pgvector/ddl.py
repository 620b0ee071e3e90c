"""The SQL a pgvector collection is made of, composed with ``psycopg.sql`` (identifiers quoted)."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from aiplane.providers.pgvector.catalog import ID, VECTOR, index_name, owner_comment

_SQL_TYPES = {
    "text": "text",
    "integer": "integer",
    "bigint": "bigint",
    "double": "double precision",
    "boolean": "boolean",
    "jsonb": "jsonb",
    "timestamptz": "timestamptz",
}


def table_ident(desired: dict[str, Any]) -> sql.Composed:
    return sql.SQL("{}.{}").format(
        sql.Identifier(desired["schema"]), sql.Identifier(desired["table"])
    )


def create_table(desired: dict[str, Any]) -> list[sql.Composed]:
    """CREATE TABLE with its vector and payload columns, and the ownership comment."""
    columns = [
        sql.SQL("{} text PRIMARY KEY").format(sql.Identifier(ID)),
        sql.SQL("{} vector({}) NOT NULL").format(
            sql.Identifier(VECTOR), sql.Literal(int(desired["dimension"]))
        ),
    ]
    columns += [_column(name, typ) for name, typ in sorted(desired["payload"].items())]
    return [
        sql.SQL("CREATE TABLE {} ({})").format(table_ident(desired), sql.SQL(", ").join(columns)),
        comment(desired),
    ]


def _column(name: str, typ: str) -> sql.Composed:
    return sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(_SQL_TYPES[typ]))


def add_column(desired: dict[str, Any], name: str) -> sql.Composed:
    return sql.SQL("ALTER TABLE {} ADD COLUMN {}").format(
        table_ident(desired), _column(name, desired["payload"][name])
    )


def comment(desired: dict[str, Any]) -> sql.Composed:
    return sql.SQL("COMMENT ON TABLE {} IS {}").format(
        table_ident(desired), sql.Literal(owner_comment(desired["owner"]))
    )


def create_index(desired: dict[str, Any], *, concurrently: bool) -> tuple[str, sql.Composed]:
    """(index name, CREATE INDEX) for the desired ANN index."""
    index = desired["index"]
    name = index_name(desired["table"], index)
    column: sql.Composable = sql.Identifier(VECTOR)
    if index["cast"]:
        # Above 2,000 dimensions the index is on a halfvec cast of the vector column.
        column = sql.SQL("({}::{}({}))").format(
            column, sql.SQL(index["cast"]), sql.Literal(int(desired["dimension"]))
        )
    params = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Literal(int(v)))
        for k, v in sorted(index["params"].items())
    )
    statement = sql.SQL("CREATE INDEX {}{} ON {} USING {} ({} {}) WITH ({})").format(
        sql.SQL("CONCURRENTLY ") if concurrently else sql.SQL(""),
        sql.Identifier(name),
        table_ident(desired),
        sql.Identifier(index["method"]),
        column,
        sql.Identifier(index["opclass"]),
        params,
    )
    return name, statement


def drop_index(schema: str, name: str, *, concurrently: bool) -> sql.Composed:
    return sql.SQL("DROP INDEX {}IF EXISTS {}.{}").format(
        sql.SQL("CONCURRENTLY ") if concurrently else sql.SQL(""),
        sql.Identifier(schema),
        sql.Identifier(name),
    )
