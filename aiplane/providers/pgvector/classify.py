"""Classify the difference between a desired collection and its live table (pure).

* dimension, or a payload column's type → ``replace`` (``ALTER COLUMN TYPE`` would rewrite or
  fail on stored vectors; dropping and re-creating is explicit and gated);
* access method, operator class (the metric), halfvec cast or build parameters (``m``,
  ``ef_construction``, ``lists``), a missing index (dropped out of band) or leftovers of an
  interrupted build → ``reindex`` (built concurrently beside the old one: the vectors stay, and
  ``ALTER INDEX … SET`` is never used because it leaves the built graph as it was);
* query-time defaults and added payload columns → ``update`` in place. A column the stack no
  longer declares is left alone: aiplane never drops a column (its values would be lost).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from aiplane.providers.collection_def import CollectionDef
from aiplane.providers.vector_change import (
    CollectionChange,
    Conflict,
    field_lines,
    pin_of,
    planned_change,
)

OwnershipConflict = Conflict


def classify(want: CollectionDef, live: dict[str, Any] | None) -> CollectionChange | None:
    """The change that brings ``live`` to ``want`` (None when they agree)."""
    desired = want.desired
    if live is None:
        text = f"table {desired['schema']}.{desired['table']}, {_index_text(desired)}"
        return _change(want, None, "create", [text])
    check_owner(want, live)
    replace = _replace_fields(desired, live)
    if replace:
        rows = live["rows"] or 0
        refused = ""
        if rows and not want.recreate_on_change:
            refused = (
                f"replace refused: it holds {rows:,} vectors and recreateOnChange is not set"
                " (set recreateOnChange: true to allow dropping them)"
            )
        return _change(want, live, "replace", replace, destructive=True, refused=refused)
    reindex = _reindex_fields(desired, live)
    update = _update_fields(desired, live)
    if reindex:
        return _change(want, live, "reindex", reindex + update)
    if update:
        return _change(want, live, "update", update)
    return None


# One provider's collection changes (the shared builder, with this provider's name).
_change = partial(planned_change, "pgvector")


def check_owner(want: CollectionDef, live: dict[str, Any]) -> None:
    """Raise ``OwnershipConflict`` unless this stack's collection owns the table."""
    table = f"{live['schema']}.{live['table']}"
    owner = live.get("owner")
    if live.get("kind") != "r" or owner is None:
        raise OwnershipConflict(
            f"collection {want.name}: {table} exists and was not created by aiplane;"
            " it is left untouched (rename the collection or drop the table yourself)"
        )
    if owner.get("stack") != want.stack or owner.get("collection") != want.name:
        raise OwnershipConflict(
            f"collection {want.name}: {table} belongs to collection {owner.get('collection')}"
            f" of stack {owner.get('stack')}; it is left untouched"
        )


def _index_text(desired: dict[str, Any]) -> str:
    index = desired["index"]
    params = ", ".join(f"{k}={v}" for k, v in sorted(index["params"].items()))
    return f"vector({desired['dimension']}), {index['method']} {index['opclass']} ({params})"


def _replace_fields(desired: dict[str, Any], live: dict[str, Any]) -> list[str]:
    lines = []
    if live["dimension"] != desired["dimension"]:
        lines.append(f"dimension {live['dimension']} -> {desired['dimension']}")
    for column, typ in sorted(desired["payload"].items()):
        old = live["payload"].get(column)
        if old is not None and old != typ:
            lines.append(f"payload.{column} {old} -> {typ}")
    return lines


def _reindex_fields(desired: dict[str, Any], live: dict[str, Any]) -> list[str]:
    if live["index"] is None:
        return ["index (missing) -> " + _index_text(desired).split(", ", 1)[1]]
    lines = field_lines(live["index"], desired["index"], "index.")
    if live["stale"]:
        lines.append(f"drop leftover indexes {', '.join(live['stale'])}")
    return lines


def _update_fields(desired: dict[str, Any], live: dict[str, Any]) -> list[str]:
    lines = []
    for column in sorted(set(desired["payload"]) - set(live["payload"])):
        lines.append(f"+ payload.{column} {desired['payload'][column]}")
    before = live["owner"].get("query", {})
    lines += field_lines(before, desired["owner"]["query"], "query.")
    return lines


def deletion(stack: str, store: str, live: dict[str, Any]) -> CollectionChange:
    """Dropping a table this stack created whose collection left the stack."""
    owner = live["owner"]
    return CollectionChange(
        provider="pgvector",
        store=store,
        name=str(owner.get("collection")),
        action="delete",
        fields=(f"table {live['schema']}.{live['table']}",),
        rows=live["rows"] or 0,
        pin=pin_of(live),
        destructive=True,
        live=live,
    )
