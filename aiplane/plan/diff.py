"""Field-level differences between two JSON values: the one diff every provider's plan uses.

Paths are dotted (``spec.replicas``); list items are addressed by name when every item has one
(``containers[name=vllm]``), otherwise by index (``ports[0]``). A string value holding a JSON object
(a collection's ``collection.json``) is compared inside: ``data.collection.json:vectors.size``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Op = Literal["add", "remove", "change"]


@dataclass(frozen=True)
class FieldDiff:
    """One changed leaf (or subtree): ``before``/``after`` None mean absent."""

    path: str
    before: Any = None
    after: Any = None

    @property
    def op(self) -> Op:
        if self.before is None:
            return "add"
        return "remove" if self.after is None else "change"

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "op": self.op, "before": self.before, "after": self.after}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> FieldDiff:
        return cls(doc["path"], doc.get("before"), doc.get("after"))


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path and not path.endswith(":") else f"{path}{key}"


def diff_values(before: Any, after: Any, path: str = "") -> list[FieldDiff]:
    """All differences from ``before`` to ``after`` (both JSON values; None = absent)."""
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[FieldDiff] = []
        for key in sorted(set(before) | set(after), key=str):
            out.extend(diff_values(before.get(key), after.get(key), join(path, str(key))))
        return out
    if isinstance(before, list) and isinstance(after, list):
        return _diff_lists(before, after, path)
    if isinstance(before, str) and isinstance(after, str):
        inner = json_object(before), json_object(after)
        if inner[0] is not None and inner[1] is not None:
            return diff_values(inner[0], inner[1], f"{path}:" if path else "")
    if before is None and isinstance(after, dict) and after:
        return diff_values({}, after, path)
    if after is None and isinstance(before, dict) and before:
        return diff_values(before, {}, path)
    return [FieldDiff(path, before, after)]


def _diff_lists(before: list[Any], after: list[Any], path: str) -> list[FieldDiff]:
    key_b, key_a = _list_key(before), _list_key(after)
    key = (key_b or key_a) if not (before and after) else (key_b if key_b == key_a else None)
    if key:
        old = {item[key]: item for item in before}
        new = {item[key]: item for item in after}
        names = list(dict.fromkeys([*old, *new]))
        out: list[FieldDiff] = []
        for name in names:
            out.extend(diff_values(old.get(name), new.get(name), f"{path}[{key}={name}]"))
        return out
    if all(not isinstance(x, dict | list) for x in [*before, *after]):
        return [FieldDiff(path, before, after)]
    out = []
    for i in range(max(len(before), len(after))):
        b = before[i] if i < len(before) else None
        a = after[i] if i < len(after) else None
        out.extend(diff_values(b, a, f"{path}[{i}]"))
    return out


def _list_key(items: Sequence[Any]) -> str | None:
    """``name`` when every item is a dict with a distinct name (the usual merge key)."""
    if not items or not all(isinstance(x, dict) for x in items):
        return None
    for key in ("name", "containerPort", "port", "mountPath", "devicePath"):
        values = [x.get(key) for x in items]
        if all(v is not None for v in values) and len(set(map(str, values))) == len(values):
            return key
    return None


def json_object(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def get_path(doc: Any, dotted: str) -> Any:
    """Value at a plain dotted path (no list addressing); None when absent."""
    cur = doc
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur
