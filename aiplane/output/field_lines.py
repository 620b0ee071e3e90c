"""Per-object field lines of a plan: command lines by flag, YAML/JSON payloads by key,
other multi-line strings as a compact line diff."""

import difflib
import json
from collections.abc import Sequence
from typing import Any

from aiplane.plan.model import Change
from aiplane.providers.kubernetes.diff import (
    FieldDiff,
    FlagDiff,
    cmdline_diffs,
    diff_values,
    is_cmdline_diff,
    text_mapping,
)
from aiplane.providers.kubernetes.objects import ObjectRef, is_secret

FIELDS_PER_OBJECT = 40
TEXT_DIFF_LINES = 12  # lines of a multi-line string's line diff shown per field
INNER_FIELDS = 20  # keys of a YAML/JSON string's structural diff shown per field
MODEL_CONTAINERS = ("vllm", "sglang", "tgi", "triton", "llama-cpp")


def value_text(v: Any, width: int = 120) -> str:
    if isinstance(v, str) and "\n" in v:
        first = v.splitlines()[0]
        return json.dumps(first[:width]) + f" (+{v.count(chr(10))} lines)"
    text = json.dumps(v, separators=(",", ":"), sort_keys=True) if not isinstance(v, str) else v
    if isinstance(v, str) and (v == "" or v.strip() != v):
        text = json.dumps(v)
    return text if len(text) <= width else text[: width - 3] + "..."


def is_text_change(d: FieldDiff) -> bool:
    return (
        d.op == "change"
        and isinstance(d.before, str)
        and isinstance(d.after, str)
        and ("\n" in d.before or "\n" in d.after)
    )


def inner_diffs(d: FieldDiff) -> list[FieldDiff] | None:
    """A changed string holding a YAML/JSON mapping, diffed by key (None: not such a string)."""
    if not is_text_change(d):
        return None
    old, new = text_mapping(d.before), text_mapping(d.after)
    if old is None or new is None:
        return None
    return _collapse_items(diff_values(old, new, f"{d.path}:"))


def _collapse_items(diffs: Sequence[FieldDiff]) -> list[FieldDiff]:
    """A list item added or removed whole is one diff (not one per key of the item)."""
    out: list[FieldDiff] = []
    for d in diffs:
        item, _, rest = d.path.rpartition("].")
        prev = out[-1] if out else None
        if not item or d.op == "change" or "." in rest or "[" in rest:
            out.append(d)
        else:
            removed = d.op == "remove"
            value = d.before if removed else d.after
            held = None if prev is None else prev.before if removed else prev.after
            if prev is not None and prev.path == item + "]" and prev.op == d.op:
                merged = {**held, rest: value} if isinstance(held, dict) else {rest: value}
            else:
                merged = {rest: value}
                out.append(d)
            out[-1] = FieldDiff(
                item + "]", merged if removed else None, None if removed else merged
            )
    return out


def text_stats(before: str, after: str) -> str:
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    added = sum(1 for x in diff if x.startswith("+ "))
    removed = sum(1 for x in diff if x.startswith("- "))
    return f"{removed} line(s) removed, {added} added"


def _text_diff(before: str, after: str, limit: int = TEXT_DIFF_LINES) -> list[tuple[str, str]]:
    """A compact unified diff of two texts: changed lines and one line of context around them."""
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=1)
    body = [x for x in lines if not x.startswith(("---", "+++"))]
    out: list[tuple[str, str]] = []
    for line in body[:limit]:
        if line.startswith("@@"):
            out.append(("dim", "  ..."))
            continue
        style = {"+": "green", "-": "red"}.get(line[:1], "dim")
        text = line if len(line) <= 120 else line[:117] + "..."
        out.append((style, f"  {text}"))
    if len(body) > limit:
        out.append(("dim", f"  ... {len(body) - limit} more line(s)"))
    return out


def _expanded(change: Change, d: FieldDiff) -> list[tuple[str, str]] | None:
    """Readable lines for a command line or a multi-line string (None: the plain form)."""
    if is_secret(ObjectRef.of(change.address)):
        return None
    if is_cmdline_diff(d):
        flags = cmdline_diffs(d.before, d.after)
        if not flags or d.before is None or d.after is None:
            return None
        return [_flag_line(f, d.path) for f in flags]
    inner = inner_diffs(d)
    if inner is not None:
        out = [_inner_line(i) for i in inner[:INNER_FIELDS]]
        if len(inner) > INNER_FIELDS:
            out.append(("dim", f"... {len(inner) - INNER_FIELDS} more key(s) in {d.path}"))
        return out
    if is_text_change(d):
        head = ("yellow", f"~ {d.path}: {text_stats(d.before, d.after)}")
        return [head, *_text_diff(d.before, d.after)]
    return None


def _flag_line(f: FlagDiff, path: str) -> tuple[str, str]:
    name = f.name if f.flag else positional_name(f.name, path)
    if f.op == "add":
        shown = f"{name} {f.after}".rstrip() if f.flag else f"{name}: {f.after}"
        return "green", f"+ {path}: {shown}"
    if f.op == "remove":
        shown = f"{name} {f.before}".rstrip() if f.flag else f"{name}: {f.before}"
        return "red", f"- {path}: {shown}"
    return "yellow", f"~ {path}: {name}: {f.before or '(set)'} -> {f.after or '(set)'}"


def _inner_line(d: FieldDiff) -> tuple[str, str]:
    if d.op == "add":
        return "green", f"+ {d.path}: (absent) -> {value_text(d.after)}"
    if d.op == "remove":
        return "red", f"- {d.path}: {value_text(d.before)} -> (removed)"
    return "yellow", f"~ {d.path}: {value_text(d.before)} -> {value_text(d.after)}"


def diff_lines(change: Change, limit: int = FIELDS_PER_OBJECT) -> list[tuple[str, str]]:
    """(style, text) lines of one object's field diff."""
    out: list[tuple[str, str]] = []
    for d in change.diffs[:limit]:
        expanded = _expanded(change, d)
        if expanded is not None:
            out.extend(expanded)
        elif d.op == "add":
            out.append(("green", f"+ {d.path}: {value_text(d.after)}"))
        elif d.op == "remove":
            out.append(("red", f"- {d.path}: {value_text(d.before)}"))
        else:
            out.append(("yellow", f"~ {d.path}: {value_text(d.before)} -> {value_text(d.after)}"))
    if len(change.diffs) > limit:
        out.append(("dim", f"... {len(change.diffs) - limit} more field(s) (see --json)"))
    for note in change.expected_drift:
        out.append(("dim", f"= {note.path}: expected drift (owned by {note.owner})"))
    return out


def positional_name(index: str, path: str) -> str:
    """The model source of a serving container's ``args``; otherwise ``argument N``."""
    model = any(f"containers[name={n}]" in path for n in MODEL_CONTAINERS)
    if index == "0" and model and path.endswith(".args"):
        return "model source"
    return f"argument {int(index) + 1}"
