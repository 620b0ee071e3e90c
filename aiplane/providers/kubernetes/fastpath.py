"""Decide "no change" locally, without a dry-run request, when that is certain.

An apply by field manager ``aiplane`` changes nothing when (1) every field the manifest sets already
has that value live and (2) the set of fields ``aiplane`` owns (its ``Apply`` entry in
``managedFields``) is exactly the set the manifest sets, so no field is released. The walk below
checks both against the ``fieldsV1`` tree; anything it cannot prove (unknown list semantics,
quantity spellings, a different apiVersion) sends the object to the server-side dry-run instead.
The walk also reports every value that differs, for the expected-drift rules.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiplane.plan.diff import join

_MISSING = object()
_ZERO: tuple[Any, ...] = (False, 0, "")
_ZERO_TYPES = (bool, int, str)
_KEY_DEFAULTS = {"protocol": "TCP"}
Segment = str | int


@dataclass(frozen=True)
class Mismatch:
    """A value the manifest sets that differs live; ``where`` locates it in the manifest."""

    path: str
    where: tuple[Segment, ...]
    desired: Any
    live: Any


@dataclass
class WalkResult:
    exact: bool = True
    mismatches: list[Mismatch] = field(default_factory=list)


def owned_fields(live: Mapping[str, Any], manager: str, api_version: str) -> dict[str, Any] | None:
    """The ``fieldsV1`` tree of ``manager``'s Apply entry (None if absent or other apiVersion)."""
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if (
            entry.get("manager") == manager
            and entry.get("operation") == "Apply"
            and not entry.get("subresource")
        ):
            if entry.get("apiVersion") != api_version:
                return None
            tree = entry.get("fieldsV1")
            return tree if isinstance(tree, dict) else None
    return None


def compare(desired: Mapping[str, Any], live: Mapping[str, Any], owned: Any) -> WalkResult:
    """Walk ``desired`` against ``live`` and the owned-fields tree (see module docstring)."""
    result = WalkResult(exact=owned is not None)
    body, live = _comparable(desired, live)
    _walk_map(body, live, owned, "", (), result)
    return result


def proves_unchanged(desired: Mapping[str, Any], live: Mapping[str, Any], owned: Any) -> bool:
    """``compare(desired, live, owned).exact``, without collecting what differs: the plan asks
    this of every object, and most of a large stack is unchanged, so it stops at the first doubt
    and builds no paths (checked against ``compare`` in tests/unit/test_plan_diff.py)."""
    if owned is None:
        return False
    body, live = _comparable(desired, live)
    return _same_map(body, live, owned)


def _comparable(
    desired: Mapping[str, Any], live: Mapping[str, Any]
) -> tuple[dict[str, Any], Mapping[str, Any]]:
    """The manifest without its identity (apiVersion, kind, name, namespace), and the live view."""
    if desired.get("kind") == "Secret" and isinstance(desired.get("stringData"), dict):
        live = _secret_view(live, desired["stringData"])
    body = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind")}
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k not in ("name", "namespace")}
    body["metadata"] = meta
    if not meta:
        del body["metadata"]
    return body, live


def _same_map(d: Mapping[str, Any], live: Any, owned: Any) -> bool:
    if not isinstance(live, dict):
        live = {}
    if not isinstance(owned, dict) or len(owned) - ("." in owned) != len(d):
        return False
    for key, value in d.items():
        child = owned.get("f:" + key)
        if child is None or not _same(value, live.get(key, _MISSING), child):
            return False
    return True  # every owned key is an f: key of d (counted above), so the sets are equal


def _same(d: Any, live: Any, owned: Any) -> bool:
    if isinstance(d, dict):
        if owned == {}:
            return bool(live == d)
        return isinstance(live, dict) and _same_map(d, live, owned)
    if isinstance(d, list):
        return _same_list(d, live, owned)
    if live is _MISSING:
        return d in _ZERO and type(d) in _ZERO_TYPES
    return bool(live == d) and type(live) is type(d)


def _same_list(d: list[Any], live: Any, owned: Any) -> bool:
    if not isinstance(owned, dict) or not owned:
        return bool(live == d)  # an atomic list (owned is never None here: see _same_map)
    keyed = [(_item_key(k), v) for k, v in owned.items() if k.startswith("k:")]
    if keyed and len(keyed) == len(owned) - ("." in owned):
        if len(keyed) != len(d):
            return False
        live_items = live if isinstance(live, list) else []
        for item in d:
            if not isinstance(item, dict):
                return False
            match = next((k for k in keyed if _has_keys(item, k[0])), None)
            if match is None:
                return False
            live_item = next(
                (x for x in live_items if isinstance(x, dict) and _has_keys(x, match[0])), {}
            )
            if not _same_map(item, live_item, match[1]):
                return False
        return True
    values = {k[2:] for k in owned if k.startswith("v:")}
    return bool(values) and live == d and {_value_key(x) for x in d} == values


_ITEM_KEYS: dict[str, Any] = {}


def _item_key(owned_key: str) -> Any:
    """The decoded ``k:{...}`` of an owned list item (the same few keys recur across objects)."""
    found = _ITEM_KEYS.get(owned_key)
    if found is None:
        found = _ITEM_KEYS[owned_key] = json.loads(owned_key[2:])
    return found


def _value_key(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _walk_map(
    d: Mapping[str, Any],
    live: Any,
    owned: Any,
    path: str,
    where: tuple[Segment, ...],
    res: WalkResult,
) -> None:
    if not isinstance(live, dict):
        live = {}
    if owned is not None:
        keys = {k[2:] for k in owned if k.startswith("f:")}
        if keys != set(d) or any(not k.startswith(("f:", ".")) for k in owned):
            res.exact = False
    for key, value in d.items():
        child = owned.get(f"f:{key}") if isinstance(owned, dict) else None
        if owned is not None and child is None:
            res.exact = False
        _walk(value, live.get(key, _MISSING), child, join(path, key), (*where, key), res)


def _walk(
    d: Any, live: Any, owned: Any, path: str, where: tuple[Segment, ...], res: WalkResult
) -> None:
    if isinstance(d, dict) and owned == {}:
        # an atomic map (e.g. a label selector): owned and compared as a whole
        if live != d:
            res.mismatches.append(Mismatch(path, where, d, None if live is _MISSING else live))
            res.exact = False
    elif isinstance(d, dict):
        if not isinstance(live, dict):
            res.mismatches.append(Mismatch(path, where, d, None if live is _MISSING else live))
            res.exact = False
            return
        _walk_map(d, live, owned, path, where, res)
    elif isinstance(d, list):
        _walk_list(d, live, owned, path, where, res)
    elif live is _MISSING and owned is not None and d in _ZERO and type(d) in _ZERO_TYPES:
        return  # omitempty: a zero value the server does not store
    elif live is _MISSING or live != d or type(live) is not type(d):
        res.mismatches.append(Mismatch(path, where, d, None if live is _MISSING else live))
        res.exact = False


def _walk_list(
    d: list[Any], live: Any, owned: Any, path: str, where: tuple[Segment, ...], res: WalkResult
) -> None:
    live_list = live if isinstance(live, list) else None
    if not isinstance(owned, dict) or not owned:
        # atomic list (or unknown ownership): must be equal as a whole
        if live_list != d:
            res.mismatches.append(Mismatch(path, where, d, live_list))
            res.exact = False
        elif owned is None:
            res.exact = False
        return
    keyed = [(_item_key(k), v) for k, v in owned.items() if k.startswith("k:")]
    if keyed and len(keyed) == len(owned) - ("." in owned):
        _walk_assoc(d, live_list or [], keyed, path, where, res)
        return
    values = {k[2:] for k in owned if k.startswith("v:")}
    if values and {_value_key(x) for x in d} == values and live_list == d:
        return
    if live_list != d:
        res.mismatches.append(Mismatch(path, where, d, live_list))
    res.exact = False


def _walk_assoc(
    d: list[Any],
    live: list[Any],
    keyed: list[tuple[Any, Any]],
    path: str,
    where: tuple[Segment, ...],
    res: WalkResult,
) -> None:
    if len(keyed) != len(d):
        res.exact = False
    for i, item in enumerate(d):
        if not isinstance(item, dict):
            res.exact = False
            continue
        match = next((k for k in keyed if _has_keys(item, k[0])), None)
        if match is None:
            res.exact = False
            res.mismatches.append(Mismatch(f"{path}[{i}]", (*where, i), item, None))
            continue
        key, child = match
        label = ",".join(f"{k}={v}" for k, v in key.items())
        live_item = next((x for x in live if isinstance(x, dict) and _has_keys(x, key)), {})
        _walk_map(item, live_item, child, f"{path}[{label}]", (*where, i), res)


def _has_keys(item: Mapping[str, Any], key: Mapping[str, Any]) -> bool:
    """Whether ``item`` has the key fields (a key field left out may take its API default)."""
    return all(item.get(k, _KEY_DEFAULTS.get(k)) == v for k, v in key.items())


def _secret_view(live: Mapping[str, Any], string_data: Mapping[str, Any]) -> dict[str, Any]:
    """The live Secret with ``stringData`` reconstructed from ``data`` for the keys we set."""
    data = live.get("data") or {}
    view: dict[str, Any] = {}
    for key in string_data:
        if key in data:
            try:
                view[key] = base64.b64decode(data[key]).decode()
            except (TypeError, ValueError, UnicodeDecodeError):  # not base64 text: no match
                continue
    return {**live, "stringData": view}


def remove_at(body: Any, where: tuple[Segment, ...]) -> None:
    """Delete the field at ``where`` from ``body`` in place (no-op when absent)."""
    cur = body
    for seg in where[:-1]:
        try:
            cur = cur[seg]
        except (KeyError, IndexError, TypeError):
            return
    last = where[-1] if where else None
    if isinstance(cur, dict) and isinstance(last, str):
        cur.pop(last, None)
