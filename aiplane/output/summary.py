"""The plan summary in stack terms: one line per stack subject (model, pool, route, ...),
with the short texts of what changes ("--max-num-seqs 256 -> 128", MIG layout changes)."""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from aiplane.output.field_lines import (
    inner_diffs,
    is_text_change,
    positional_name,
    text_stats,
    value_text,
)
from aiplane.output.route_terms import explains, route_terms
from aiplane.output.weights import weight_briefs
from aiplane.plan.model import DISRUPTION_ORDER, Change, Plan
from aiplane.providers.kubernetes.diff import (
    FieldDiff,
    FlagDiff,
    cmdline_diffs,
    is_cmdline_diff,
    mig_config_changes,
)
from aiplane.providers.kubernetes.labels import NODE_LABELS_KIND, WEIGHTS_ANN
from aiplane.providers.kubernetes.objects import ObjectRef, is_secret

SYMBOL = {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}


@dataclass(frozen=True)
class SubjectLine:
    """One line of the stack-level summary."""

    symbol: str
    action: str
    subject: str
    text: str
    disruption: str
    source: str


def summarize(plan: Plan) -> list[SubjectLine]:
    """Group changing objects by stack subject, in plan order.

    A mig-parted ConfigMap update is told per pool as the MIG layout change it makes.
    """
    groups: dict[str, list[Change]] = {}
    order: list[SubjectLine | str] = []  # a MIG line, or the key of a group, in plan order
    for c in plan.changes:
        if not c.changing:
            continue
        routes = _route_lines(c) if c.action == "update" else []
        if routes:  # a gateway change told in route terms (aiplane.output.route_terms)
            order.extend(routes)
            rest = tuple(d for d in c.diffs if not explains(c.address.kind, d.path))
            if not rest:
                continue
            c = replace(c, diffs=rest)
        mig = _mig_lines(c) if c.action == "update" and c.address.kind == "ConfigMap" else []
        if mig:
            order.extend(mig)
            rest = tuple(d for d in c.diffs if not mig_config_changes(d))
            if not rest:
                continue
            c = replace(c, diffs=rest, disruption="in-place")
        key = c.subject or str(c.address)
        if key not in groups:
            order.append(key)
        groups.setdefault(key, []).append(c)
    return [x if isinstance(x, SubjectLine) else _subject_line(x, groups[x]) for x in order]


def _route_lines(c: Change) -> list[SubjectLine]:
    lines = route_terms(c.address.kind, c.address.name, c.subject, c.diffs) or []
    return [SubjectLine("~", "update", s, t, c.disruption, c.source) for s, t in lines]


def _mig_lines(c: Change) -> list[SubjectLine]:
    """``pool a100: MIG layout of GPUs [0] changes: A -> B`` for each changed mig-parted config."""
    lines: list[SubjectLine] = []
    for d in c.diffs:
        for name, (before, after) in mig_config_changes(d).items():
            if before is None or after is None:
                continue  # a config added or removed: told with its pool's other objects
            text = "MIG layout " + _layout_change(before, after)
            subject = _mig_subject(c.subject, name)
            lines.append(SubjectLine("~", "update", subject, text, c.disruption, c.source))
    return lines


def _mig_subject(subject: str, config: str) -> str:
    """The pool a mig-parted config belongs to, from the ConfigMap's ``gpu pools a, b`` subject."""
    pools = [p.strip() for p in subject.removeprefix("gpu pools ").split(",") if p.strip()]
    if subject.startswith("gpu pools ") and len(pools) == 1:
        return f"pool {pools[0]}"
    named = [p for p in pools if config == f"aiplane-{p}" or config.startswith(f"aiplane-{p}-")]
    for hits in (named, [p for p in pools if p in config]):
        if len(hits) == 1:
            return f"pool {hits[0]}"
    return f"MIG config {config}"


def _layout_change(before: Any, after: Any) -> str:
    """``of GPUs [0] changes: 1g.10gb×2 + 3g.40gb×1 -> 1g.10gb×4`` (per group of GPUs)."""
    old, new = _gpu_layouts(before), _gpu_layouts(after)
    changed = [g for g in dict.fromkeys([*old, *new]) if old.get(g) != new.get(g)]
    groups: dict[tuple[str, str], list[str]] = {}
    for gpu in changed:
        key = (old.get(gpu, "(none)"), new.get(gpu, "(none)"))
        groups.setdefault(key, []).append(gpu)
    parts = [f"of GPUs [{', '.join(gpus)}] changes: {b} -> {a}" for (b, a), gpus in groups.items()]
    return "; ".join(parts) if parts else "changes"


def _gpu_layouts(entries: Any) -> dict[str, str]:
    """GPU index (or ``all``) -> layout text, from a mig-parted config's entries."""
    out: dict[str, str] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        devices = entry.get("devices")
        gpus = [str(x) for x in devices] if isinstance(devices, list) else [str(devices)]
        if not entry.get("mig-enabled", False):
            layout = "MIG disabled"
        else:
            profiles = entry.get("mig-devices") or {}
            layout = " + ".join(f"{p}×{n}" for p, n in sorted(profiles.items(), key=str)) or "empty"
        for gpu in gpus:
            out[gpu] = layout
    return out


def _subject_line(subject: str, changes: Sequence[Change]) -> SubjectLine:
    actions = {c.action for c in changes}
    n = len(changes)
    objects = f" ({n} objects)" if n > 1 else f" ({changes[0].address.kind})"
    subject, role = _split_role(subject)
    if actions == {"create"} and all(c.address.kind == NODE_LABELS_KIND for c in changes):
        labels = [f"{d.path[len('spec.labels.'):]}={d.after}" for c in changes for d in c.diffs
                  if d.path.startswith("spec.labels.")]  # fmt: skip
        action, text = "create", "labels nodes: " + ", ".join(labels[:3])
    elif actions == {"create"}:
        action, text = "create", f"new {role}".rstrip() + objects
    elif actions == {"delete"}:
        action, text = "delete", "removed" + objects
    elif "replace" in actions:
        first = next(c for c in changes if c.action == "replace")
        action, text = "replace", f"replace {first.address.kind}: {first.reason}"
    else:
        action, text = "update", _update_text(changes)
    worst = max((c.disruption for c in changes), key=DISRUPTION_ORDER.index)
    source = next((c.source for c in changes if c.source), "")
    return SubjectLine(SYMBOL[action], action, subject, text, worst, source)


def _split_role(subject: str) -> tuple[str, str]:
    """``model x v2.1 (canary)`` -> (``model x v2.1``, ``canary``): "new canary" reads better."""
    if subject.endswith(")") and " (" in subject:
        base, _, role = subject[:-1].rpartition(" (")
        if role and " " not in role:
            return base, role
    return subject, ""


def _update_text(changes: Sequence[Change]) -> str:
    node = next(
        (c for c in changes if c.address.kind == NODE_LABELS_KIND and c.action == "update"), None
    )
    if node is not None:
        return node.reason
    briefs: list[str] = []
    for c in changes:
        for d in _in_stack_terms(c.diffs):
            for brief in _briefs(c, d):
                if brief not in briefs:
                    briefs.append(brief)
    extra = f" and {len(briefs) - 3} more" if len(briefs) > 3 else ""
    created = [c.address.kind for c in changes if c.action == "create"]
    added = f"; adds {', '.join(created)}" if created else ""
    return ", ".join(briefs[:3]) + extra + added


def _in_stack_terms(diffs: Sequence[FieldDiff]) -> list[FieldDiff]:
    """The diffs to summarise: raw backend weights are left out when the route's weights
    annotation tells the same change in stack terms."""
    if not any(d.path.endswith(f"annotations.{WEIGHTS_ANN}") for d in diffs):
        return list(diffs)
    return [d for d in diffs if not (d.path.endswith(".weight") and "backendRefs[" in d.path)]


def _briefs(c: Change, d: FieldDiff) -> list[str]:
    """Short texts for the summary: one per flag of a command line, per key of a YAML string."""
    if is_secret(ObjectRef.of(c.address)):
        return [_brief(d)]
    if d.path.endswith(f"annotations.{WEIGHTS_ANN}"):
        return weight_briefs(d.before, d.after) or [_brief(d)]
    if is_cmdline_diff(d) and d.op == "change":
        return [_flag_brief(f, d.path) for f in cmdline_diffs(d.before, d.after)] or [_brief(d)]
    inner = inner_diffs(d)
    key = d.path.removeprefix("data.") if d.path.startswith("data.") else _leaf(d.path)
    if inner is not None:
        return [f"{key}: {_brief(i)}" for i in inner] or [_brief(d)]
    if is_text_change(d):
        return [f"{key}: {text_stats(d.before, d.after)}"]
    return [_brief(d)]


def _flag_brief(f: FlagDiff, path: str) -> str:
    name = f.name if f.flag else positional_name(f.name, path)
    if f.op == "add":
        return f"{name} added" if f.flag else f"{name} {f.after} added"
    if f.op == "remove":
        return f"{name} removed"
    if f.flag and "" in (f.before, f.after):
        return f"{name} {f.before or '(set)'} -> {f.after or '(set)'}"
    return f"{name} {value_text(f.before, 40)} -> {value_text(f.after, 40)}"


# Maps whose keys are label-style names with dots and slashes (aiplane.dev/pool): a key in
# them is the whole rest of the path, never cut at its dots.
_NAME_KEYED = ("labels", "annotations", "nodeSelector", "matchLabels", "data", "stringData")


def _leaf(path: str) -> str:
    """The last key of a diff path (dots inside ``[...]`` and label keys do not split)."""
    tail = path.rsplit(":", 1)[-1]
    for container in _NAME_KEYED:
        for marker in (f".{container}.", f"{container}."):
            if marker in tail and (marker[0] == "." or tail.startswith(marker)):
                key = tail.rsplit(marker, 1)[1]
                if "[" not in key:
                    return key
    depth, start = 0, 0
    for i, ch in enumerate(tail):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "." and depth == 0:
            start = i + 1
    return tail[start:] or path


def _brief(d: FieldDiff) -> str:
    leaf = _leaf(d.path)
    if d.op == "change" and not isinstance(d.before, dict | list):
        return f"{leaf} {value_text(d.before, 40)} -> {value_text(d.after, 40)}"
    return f"{leaf} {'added' if d.op == 'add' else 'removed' if d.op == 'remove' else 'changed'}"
