"""Kubernetes views of field diffs: Secret masks, ConfigMap JSON fields, command lines, MIG configs.

The generic JSON diff lives in ``aiplane.plan.diff``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from aiplane.plan.diff import FieldDiff as FieldDiff
from aiplane.plan.diff import Op, json_object
from aiplane.plan.diff import diff_values as diff_values
from aiplane.plan.diff import get_path as get_path
from aiplane.providers.kubernetes.objects import ObjectRef, is_secret
from aiplane.secrets import is_secret_path, mask_secret_value


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


def json_text_field(obj: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    """Parse ``data[key]`` of a ConfigMap as a JSON object (None when absent or not JSON)."""
    text = (obj.get("data") or {}).get(key)
    return json_object(text) if isinstance(text, str) else None


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
