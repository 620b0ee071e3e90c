"""What a vector-collection provider hands the plan: one change per collection, in its terms.

Both collection providers (pgvector, Chroma) classify a difference the same way, so the plan can
say what a change costs before anything runs:

* ``create`` / ``delete``: the collection appears or goes (delete only what this stack created);
* ``update``: in place, the data and the built index untouched (query-time defaults, metadata,
  an added payload column);
* ``reindex``: a new index is built beside the old one, which keeps serving until the swap;
* ``replace``: drop and re-create (dimension, and what the server cannot change in place): every
  vector is lost, so it is blocked without ``--allow-delete`` and refused outright for a
  collection that holds vectors unless the stack says ``recreateOnChange: true``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from aiplane.providers.collection_def import CollectionDef

Action = Literal["create", "update", "reindex", "replace", "delete"]


class Conflict(Exception):
    """The live collection exists but this stack's collection did not create it: it is never
    adopted and never touched."""


_SIGN = {"create": "+", "update": "~", "reindex": "~", "replace": "-/+", "delete": "-"}


@dataclass(frozen=True)
class CollectionChange:
    """One collection's difference between the stack and the live database."""

    provider: str
    store: str
    name: str
    action: Action
    fields: tuple[str, ...]
    """Per-field lines: ``dimension 768 -> 1024``."""
    rows: int | None
    """Vectors the collection holds now (None when it does not exist)."""
    pin: str | None
    """Hash of the live definition the change was planned against (None: absent)."""
    source: str = ""
    destructive: bool = False
    """Loses stored data: needs ``--allow-delete``."""
    refused: str = ""
    """Why the change may not run at all, even with ``--allow-delete``."""
    desired: dict[str, Any] | None = None
    live: dict[str, Any] | None = field(default=None, compare=False)

    def summary(self) -> str:
        """``-/+ collection docs: dimension 768 -> 1024 (replace: 1,000 vectors would be lost)``."""
        what = "; ".join(self.fields) if self.fields else self.action
        rows = self.rows or 0
        if self.action == "replace":
            tail = f"replace: {rows:,} vectors would be lost"
        elif self.action == "delete":
            tail = f"delete: {rows:,} vectors would be lost"
        elif self.action == "reindex":
            tail = f"re-index {rows:,} vectors; the old index serves until the swap"
        elif self.action == "update":
            tail = "in place"
        else:
            tail = "create"
        return f"{_SIGN[self.action]} collection {self.name}: {what} ({tail})"

    def gate(self, *, allow_delete: bool) -> str:
        """Why this change is blocked under the given flags ('' when it may run)."""
        if self.refused:
            return f"collection {self.name}: {self.refused}"
        if self.destructive and not allow_delete:
            return (
                f"collection {self.name}: {self.action} loses {self.rows or 0:,} vectors;"
                " rerun with --allow-delete"
            )
        return ""


def pin_of(live: dict[str, Any] | None) -> str | None:
    """A stable hash of a live definition (row counts excluded: writes are not drift)."""
    if live is None:
        return None
    body = {k: v for k, v in live.items() if k != "rows"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def field_lines(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> list[str]:
    """``key old -> new`` for every leaf that differs (flat keys joined with '.')."""
    lines: list[str] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        name = f"{prefix}{key}"
        if isinstance(old, dict) and isinstance(new, dict):
            lines += field_lines(old, new, f"{name}.")
        elif old != new:
            lines.append(f"{name} {_show(old)} -> {_show(new)}")
    return lines


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def planned_change(
    provider: str,
    want: CollectionDef,
    live: dict[str, Any] | None,
    action: Action,
    fields: list[str],
    *,
    destructive: bool = False,
    refused: str = "",
) -> CollectionChange:
    """A change of ``want`` (live state ``live``, None when absent) in ``provider``'s terms."""
    return CollectionChange(
        provider=provider,
        store=want.store,
        name=want.name,
        action=action,
        fields=tuple(fields),
        rows=None if live is None else (live["rows"] or 0),
        pin=pin_of(live),
        source=want.source,
        destructive=destructive,
        refused=refused,
        desired=want.desired,
        live=live,
    )
