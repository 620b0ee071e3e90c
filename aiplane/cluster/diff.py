"""Field-level differences between two versions of an object.

Paths are dotted (``spec.replicas``); list items are addressed by name when every item has one
(``containers[name=vllm]``), otherwise by index (``ports[0]``). A string value holding a JSON object
(a collection's ``collection.json``) is compared inside: ``data.collection.json:vectors.size``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from aiplane.cluster.masking import is_secret_path, mask_secret_value
from aiplane.cluster.objects import ObjectRef, is_secret

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
        inner = _json_object(before), _json_object(after)
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


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def mask_diffs(ref: ObjectRef, diffs: Sequence[FieldDiff]) -> tuple[FieldDiff, ...]:
    """For Secrets, replace data/stringData values with masks that keep add/remove/change."""
    if not is_secret(ref):
        return tuple(diffs)
    out = []
    for d in diffs:
        if is_secret_path(d.path) or _holds_secret_subtree(d):
            d = FieldDiff(
                d.path, mask_secret_value(d.before, "before"), mask_secret_value(d.after, "after")
            )
        out.append(d)
    return tuple(out)


def _holds_secret_subtree(d: FieldDiff) -> bool:
    """A whole-object diff (path "") or any value that contains data/stringData."""
    return d.path == "" or any(
        isinstance(v, dict) and ("data" in v or "stringData" in v) for v in (d.before, d.after)
    )


def get_path(doc: Any, dotted: str) -> Any:
    """Value at a plain dotted path (no list addressing); None when absent."""
    cur = doc
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def json_text_field(obj: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    """Parse ``data[key]`` of a ConfigMap as a JSON object (None when absent or not JSON)."""
    text = (obj.get("data") or {}).get(key)
    return _json_object(text) if isinstance(text, str) else None


# -- readable views of one diff (display only: the stored diff keeps whole values) -----------------

CMDLINE_FIELDS = ("args", "command")
MIG_CONFIGS_KEY = "mig-configs"


@dataclass(frozen=True)
class FlagDiff:
    """One changed flag or positional argument of a command line; None means absent."""

    name: str
    before: str | None = None
    after: str | None = None
    flag: bool = True

    @property
    def op(self) -> Op:
        if self.before is None:
            return "add"
        return "remove" if self.after is None else "change"


def is_cmdline_diff(d: FieldDiff) -> bool:
    """A container ``args``/``command`` list that changed as a whole (lists of plain strings)."""
    head, _, leaf = d.path.rpartition(".")
    parent = head.rsplit(".", 1)[-1].split("[", 1)[0].lower()
    return (
        leaf in CMDLINE_FIELDS
        and parent.endswith(("container", "containers"))
        and all(_is_str_list(v) for v in (d.before, d.after))
        and d.before != d.after
    )


def _is_str_list(value: Any) -> bool:
    return value is None or (isinstance(value, list) and all(isinstance(x, str) for x in value))


def parse_cmdline(tokens: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Positional arguments and ``--flag value`` pairs (a bare flag has the value "")."""
    positional: list[str] = []
    flags: dict[str, list[str]] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("-") and len(tok) > 1 and not _is_number(tok):
            name, eq, value = tok.partition("=")
            if not eq and i + 1 < len(tokens) and not _looks_like_flag(tokens[i + 1]):
                value = tokens[i + 1]
                i += 1
            flags.setdefault(name, []).append(value)
        else:
            positional.append(tok)
        i += 1
    return positional, flags


def _looks_like_flag(tok: str) -> bool:
    return tok.startswith("-") and len(tok) > 1 and not _is_number(tok)


def _is_number(tok: str) -> bool:
    try:
        float(tok)
    except ValueError:
        return False
    return True


def cmdline_diffs(before: Sequence[str] | None, after: Sequence[str] | None) -> list[FlagDiff]:
    """Flag-level differences between two command lines, positionals first, then flags in order."""
    pos_b, flags_b = parse_cmdline(before or [])
    pos_a, flags_a = parse_cmdline(after or [])
    out: list[FlagDiff] = []
    for i in range(max(len(pos_b), len(pos_a))):
        b = pos_b[i] if i < len(pos_b) else None
        a = pos_a[i] if i < len(pos_a) else None
        if b != a:
            out.append(FlagDiff(str(i), b, a, flag=False))
    for name in dict.fromkeys([*flags_b, *flags_a]):
        vb, va = flags_b.get(name), flags_a.get(name)
        if vb != va:
            out.append(FlagDiff(name, _joined(vb), _joined(va)))
    return out


def _joined(values: list[str] | None) -> str | None:
    return None if values is None else " ".join(values)


def text_mapping(text: Any) -> dict[str, Any] | None:
    """A string holding a YAML or JSON mapping (multi-line YAML, or a JSON object), else None."""
    if not isinstance(text, str) or not ("\n" in text.strip() or text.startswith("{")):
        return None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return value if isinstance(value, dict) else None


def mig_config_changes(d: FieldDiff) -> dict[str, tuple[Any, Any]]:
    """Configs of a mig-parted ``config.yaml`` whose content changes: name -> (before, after)."""
    old, new = text_mapping(d.before), text_mapping(d.after)
    if old is None and new is None:
        return {}
    old_cfg = (old or {}).get(MIG_CONFIGS_KEY)
    new_cfg = (new or {}).get(MIG_CONFIGS_KEY)
    if not isinstance(old_cfg, dict) and not isinstance(new_cfg, dict):
        return {}
    old_cfg = old_cfg if isinstance(old_cfg, dict) else {}
    new_cfg = new_cfg if isinstance(new_cfg, dict) else {}
    return {
        str(name): (old_cfg.get(name), new_cfg.get(name))
        for name in dict.fromkeys([*old_cfg, *new_cfg])
        if old_cfg.get(name) != new_cfg.get(name)
    }


def changed_mig_configs(diffs: Sequence[FieldDiff]) -> dict[str, tuple[Any, Any]]:
    """``mig_config_changes`` over every ``data.*`` string diff of a ConfigMap."""
    out: dict[str, tuple[Any, Any]] = {}
    for d in diffs:
        if d.path.startswith("data.") and (isinstance(d.before, str) or isinstance(d.after, str)):
            out.update(mig_config_changes(d))
    return out
