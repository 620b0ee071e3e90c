"""Classify a Chroma collection's difference (pure).

Chroma 1.5 changes ``ef_search`` (and the build-time knobs aiplane does not set) in place;
``space``, ``ef_construction`` and ``max_neighbors`` are fixed when the collection is made, and
a collection holding vectors of one dimension cannot take another: those are ``replace``.
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

IMMUTABLE = ("space", "max_neighbors", "ef_construction")


def classify(want: CollectionDef, live: dict[str, Any] | None) -> CollectionChange | None:
    """The change that brings ``live`` to ``want`` (None when they agree)."""
    desired = want.desired
    if live is None:
        hnsw = ", ".join(f"{k}={v}" for k, v in sorted(desired["hnsw"].items()))
        return _change(want, None, "create", [f"hnsw ({hnsw})"])
    check_owner(want, live)
    replace = [
        f"hnsw.{k} {live['hnsw'][k]} -> {desired['hnsw'][k]}"
        for k in IMMUTABLE
        if live["hnsw"][k] != desired["hnsw"][k]
    ]
    if live["dimension"] is not None and live["dimension"] != desired["dimension"]:
        replace.insert(0, f"dimension {live['dimension']} -> {desired['dimension']}")
    if replace:
        rows = live["rows"] or 0
        refused = ""
        if rows and not want.recreate_on_change:
            refused = (
                f"replace refused: it holds {rows:,} vectors and recreateOnChange is not set"
                " (set recreateOnChange: true to allow dropping them)"
            )
        return _change(want, live, "replace", replace, destructive=True, refused=refused)
    update = field_lines(
        {"ef_search": live["hnsw"]["ef_search"]},
        {"ef_search": desired["hnsw"]["ef_search"]},
        "hnsw.",
    )
    update += field_lines(live["metadata"], desired["metadata"], "metadata.")
    if live["dimension"] is None and live["recordedDimension"] != desired["dimension"]:
        update.append(
            f"dimension {live['recordedDimension']} -> {desired['dimension']} (no vectors yet)"
        )
    return _change(want, live, "update", update) if update else None


def check_owner(want: CollectionDef, live: dict[str, Any]) -> None:
    """Raise ``Conflict`` unless this stack's collection owns the live one."""
    owner = live.get("owner")
    if owner is None:
        raise Conflict(
            f"collection {want.name}: a Chroma collection {live['name']} exists and was not created"
            " by aiplane; it is left untouched (rename the collection or delete it yourself)"
        )
    if owner.get("stack") != want.stack or owner.get("collection") != want.name:
        raise Conflict(
            f"collection {want.name}: Chroma collection {live['name']} belongs to collection"
            f" {owner.get('collection')} of stack {owner.get('stack')}; it is left untouched"
        )


# One provider's collection changes (the shared builder, with this provider's name).
_change = partial(planned_change, "chroma")


def deletion(store: str, live: dict[str, Any]) -> CollectionChange:
    """Deleting a collection this stack created whose entry left the stack."""
    return CollectionChange(
        provider="chroma",
        store=store,
        name=str((live["owner"] or {}).get("collection") or live["name"]),
        action="delete",
        fields=(f"Chroma collection {live['name']}",),
        rows=live["rows"] or 0,
        pin=pin_of(live),
        destructive=True,
        live=live,
    )
