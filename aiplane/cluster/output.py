"""Show a plan: human (coloured, stack terms first), JSON (versioned) and PR markdown.

Every renderer ends in the ``Scrubber``, so a Secret value that slipped into a message is still
masked. Markdown stays under ``MARKDOWN_LIMIT`` characters (GitHub's comment limit).
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rich.console import Console
from rich.text import Text

from aiplane.cluster.diff import (
    FieldDiff,
    FlagDiff,
    cmdline_diffs,
    diff_values,
    is_cmdline_diff,
    mig_config_changes,
    text_mapping,
)
from aiplane.cluster.objects import NODE_LABELS_KIND, is_secret
from aiplane.cluster.plan import DISRUPTION_ORDER, Change, Gate, Plan

MARKDOWN_LIMIT = 65_536
FIELDS_PER_OBJECT = 40
TEXT_DIFF_LINES = 12  # lines of a multi-line string's line diff shown per field
INNER_FIELDS = 20  # keys of a YAML/JSON string's structural diff shown per field
MODEL_CONTAINERS = ("vllm", "sglang", "tgi", "triton", "llama-cpp")
SYMBOL = {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}
STYLE = {"create": "green", "update": "yellow", "replace": "magenta", "delete": "red"}
Scrub = Callable[[str], str]


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
        mig = _mig_lines(c) if c.action == "update" and c.ref.kind == "ConfigMap" else []
        if mig:
            order.extend(mig)
            rest = tuple(d for d in c.diffs if not mig_config_changes(d))
            if not rest:
                continue
            c = replace(c, diffs=rest, disruption="in-place")
        key = c.subject or str(c.ref)
        if key not in groups:
            order.append(key)
        groups.setdefault(key, []).append(c)
    return [x if isinstance(x, SubjectLine) else _subject_line(x, groups[x]) for x in order]


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
    objects = f" ({n} objects)" if n > 1 else f" ({changes[0].ref.kind})"
    subject, role = _split_role(subject)
    if actions == {"create"} and all(c.ref.kind == NODE_LABELS_KIND for c in changes):
        labels = [f"{d.path[len('spec.labels.'):]}={d.after}" for c in changes for d in c.diffs
                  if d.path.startswith("spec.labels.")]  # fmt: skip
        action, text = "create", "labels nodes: " + ", ".join(labels[:3])
    elif actions == {"create"}:
        action, text = "create", f"new {role}".rstrip() + objects
    elif actions == {"delete"}:
        action, text = "delete", "removed" + objects
    elif "replace" in actions:
        first = next(c for c in changes if c.action == "replace")
        action, text = "replace", f"replace {first.ref.kind}: {first.reason}"
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
        (c for c in changes if c.ref.kind == NODE_LABELS_KIND and c.action == "update"), None
    )
    if node is not None:
        return node.reason
    briefs: list[str] = []
    for c in changes:
        for d in c.diffs:
            for brief in _briefs(c, d):
                if brief not in briefs:
                    briefs.append(brief)
    extra = f" and {len(briefs) - 3} more" if len(briefs) > 3 else ""
    created = [c.ref.kind for c in changes if c.action == "create"]
    added = f"; adds {', '.join(created)}" if created else ""
    return ", ".join(briefs[:3]) + extra + added


def _briefs(c: Change, d: FieldDiff) -> list[str]:
    """Short texts for the summary: one per flag of a command line, per key of a YAML string."""
    if is_secret(c.ref):
        return [_brief(d)]
    if is_cmdline_diff(d) and d.op == "change":
        return [_flag_brief(f, d.path) for f in cmdline_diffs(d.before, d.after)] or [_brief(d)]
    inner = _inner_diffs(d)
    key = d.path.removeprefix("data.") if d.path.startswith("data.") else _leaf(d.path)
    if inner is not None:
        return [f"{key}: {_brief(i)}" for i in inner] or [_brief(d)]
    if _is_text_change(d):
        return [f"{key}: {_text_stats(d.before, d.after)}"]
    return [_brief(d)]


def _flag_brief(f: FlagDiff, path: str) -> str:
    name = f.name if f.flag else _positional_name(f.name, path)
    if f.op == "add":
        return f"{name} added" if f.flag else f"{name} {f.after} added"
    if f.op == "remove":
        return f"{name} removed"
    if f.flag and "" in (f.before, f.after):
        return f"{name} {f.before or '(set)'} -> {f.after or '(set)'}"
    return f"{name} {_value(f.before, 40)} -> {_value(f.after, 40)}"


def _positional_name(index: str, path: str) -> str:
    """The model source of a serving container's ``args``; otherwise ``argument N``."""
    model = any(f"containers[name={n}]" in path for n in MODEL_CONTAINERS)
    if index == "0" and model and path.endswith(".args"):
        return "model source"
    return f"argument {int(index) + 1}"


def _leaf(path: str) -> str:
    """The last key of a diff path (dots inside ``[...]`` do not split)."""
    depth, start = 0, 0
    tail = path.rsplit(":", 1)[-1]
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
        return f"{leaf} {_value(d.before, 40)} -> {_value(d.after, 40)}"
    return f"{leaf} {'added' if d.op == 'add' else 'removed' if d.op == 'remove' else 'changed'}"


def _value(v: Any, width: int = 120) -> str:
    if isinstance(v, str) and "\n" in v:
        first = v.splitlines()[0]
        return json.dumps(first[:width]) + f" (+{v.count(chr(10))} lines)"
    text = json.dumps(v, separators=(",", ":"), sort_keys=True) if not isinstance(v, str) else v
    if isinstance(v, str) and (v == "" or v.strip() != v):
        text = json.dumps(v)
    return text if len(text) <= width else text[: width - 3] + "..."


def _is_text_change(d: FieldDiff) -> bool:
    return (
        d.op == "change"
        and isinstance(d.before, str)
        and isinstance(d.after, str)
        and ("\n" in d.before or "\n" in d.after)
    )


def _inner_diffs(d: FieldDiff) -> list[FieldDiff] | None:
    """A changed string holding a YAML/JSON mapping, diffed by key (None: not such a string)."""
    if not _is_text_change(d):
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


def _text_stats(before: str, after: str) -> str:
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
    if is_secret(change.ref):
        return None
    if is_cmdline_diff(d):
        flags = cmdline_diffs(d.before, d.after)
        if not flags or d.before is None or d.after is None:
            return None
        return [_flag_line(f, d.path) for f in flags]
    inner = _inner_diffs(d)
    if inner is not None:
        out = [_inner_line(i) for i in inner[:INNER_FIELDS]]
        if len(inner) > INNER_FIELDS:
            out.append(("dim", f"... {len(inner) - INNER_FIELDS} more key(s) in {d.path}"))
        return out
    if _is_text_change(d):
        head = ("yellow", f"~ {d.path}: {_text_stats(d.before, d.after)}")
        return [head, *_text_diff(d.before, d.after)]
    return None


def _flag_line(f: FlagDiff, path: str) -> tuple[str, str]:
    name = f.name if f.flag else _positional_name(f.name, path)
    if f.op == "add":
        shown = f"{name} {f.after}".rstrip() if f.flag else f"{name}: {f.after}"
        return "green", f"+ {path}: {shown}"
    if f.op == "remove":
        shown = f"{name} {f.before}".rstrip() if f.flag else f"{name}: {f.before}"
        return "red", f"- {path}: {shown}"
    return "yellow", f"~ {path}: {name}: {f.before or '(set)'} -> {f.after or '(set)'}"


def _inner_line(d: FieldDiff) -> tuple[str, str]:
    if d.op == "add":
        return "green", f"+ {d.path}: (absent) -> {_value(d.after)}"
    if d.op == "remove":
        return "red", f"- {d.path}: {_value(d.before)} -> (removed)"
    return "yellow", f"~ {d.path}: {_value(d.before)} -> {_value(d.after)}"


def diff_lines(change: Change, limit: int = FIELDS_PER_OBJECT) -> list[tuple[str, str]]:
    """(style, text) lines of one object's field diff."""
    out: list[tuple[str, str]] = []
    for d in change.diffs[:limit]:
        expanded = _expanded(change, d)
        if expanded is not None:
            out.extend(expanded)
        elif d.op == "add":
            out.append(("green", f"+ {d.path}: {_value(d.after)}"))
        elif d.op == "remove":
            out.append(("red", f"- {d.path}: {_value(d.before)}"))
        else:
            out.append(("yellow", f"~ {d.path}: {_value(d.before)} -> {_value(d.after)}"))
    if len(change.diffs) > limit:
        out.append(("dim", f"... {len(change.diffs) - limit} more field(s) (see --json)"))
    for note in change.expected_drift:
        out.append(("dim", f"= {note.path}: expected drift (owned by {note.owner})"))
    return out


def totals(plan: Plan) -> str:
    n = plan.counts()
    text = (
        f"Plan: {n['create']} to create, {n['update']} to update, {n['replace']} to replace, "
        f"{n['delete']} to delete; {n['noop']} unchanged"
    )
    if n["drift-expected"]:
        text += f", {n['drift-expected']} with expected drift only"
    return text + "."


def gate_lines(gates: Iterable[Gate]) -> list[str]:
    return [f"{g.ref}: {g.message} is blocked; rerun with {g.flag}" for g in gates]


def _header_line(c: Change) -> str:
    sym = SYMBOL.get(c.action, "=")
    extras: list[str] = [c.action, c.disruption]
    if c.estimate:
        extras.append("estimate")
    source = f"  {c.source}" if c.source else ""
    generic = c.reason == f"{len(c.diffs)} field(s) change"
    why = f" - {c.reason}" if c.reason and not generic else ""
    return f"{sym} {c.ref} ({', '.join(extras)}){why}{source}"


def render_human(plan: Plan, gates: Sequence[Gate], console: Console, scrub: Scrub) -> None:
    """Print the plan for a terminal (built as one Text: one print is much faster than many)."""
    out = Text()

    def say(text: str, style: str = "") -> None:
        out.append(scrub(text) + "\n", style=style)

    say(f"aiplane plan: stack {plan.stack} ({plan.stack_file}) against {plan.target}", "bold")
    for w in plan.warnings:
        say(f"warning: {w}", "yellow")
    _say_capacity(plan, say)
    lines = summarize(plan)
    if not lines:
        drift = [c for c in plan.changes if c.action == "drift-expected"]
        what = (
            "the target matches the stack"
            if not drift
            else (f"{len(drift)} object(s) show expected drift only")
        )
        say(f"stack {plan.stack}: no changes; {what}.", "green")  # fmt: skip
    else:
        say("\nSummary", "bold")
        for s in lines:
            tag = f" [{s.disruption}]" if s.disruption not in ("none", "in-place") else ""
            src = f"  ({s.source})" if s.source else ""
            say(f"  {s.symbol} {s.subject}: {s.text}{tag}{src}", STYLE[s.action])
        say("\nChanges", "bold")
        for c in plan.changes:
            if c.changing or c.expected_drift:
                say(f"  {_header_line(c)}", "bold " + STYLE.get(c.action, "dim"))
                for style, text in diff_lines(c):
                    say(f"      {text}", style)
    say("\n" + totals(plan), "bold")
    for line in gate_lines(gates):
        say(f"blocked: {line}", "bold red")
    out.rstrip()
    console.print(out, soft_wrap=True)


def _say_capacity(plan: Plan, say: Callable[[str, str], None]) -> None:
    if plan.capacity is None:
        return
    from aiplane.gpu.capacity import capacity_lines

    say("\nGPU capacity", "bold")
    for line in capacity_lines(plan.capacity, plan.capacity_before):
        say(f"  {line}", "yellow" if line.startswith(("short", "queued")) else "")


def render_json(plan: Plan, gates: Sequence[Gate], scrub: Scrub) -> str:
    doc = plan.to_json()
    doc["blocked"] = [
        {"object": g.ref.to_json(), "flag": g.flag, "message": g.message} for g in gates
    ]
    return scrub(json.dumps(doc, indent=1))


def render_markdown(
    plan: Plan, gates: Sequence[Gate], scrub: Scrub, limit: int = MARKDOWN_LIMIT
) -> str:
    """Summary first, per-object diffs collapsed; never longer than ``limit`` characters."""
    head = [f"### aiplane plan: `{plan.stack}`", "", f"Against {plan.target}.", ""]
    head.append(f"**{totals(plan)}**")
    head += [f"> :warning: {w}" for w in plan.warnings]
    head += [f"> :no_entry: **blocked:** {line}" for line in gate_lines(gates)]
    lines = summarize(plan)
    if lines:
        head += ["", "| | Subject | Change | Disruption | Source |", "|---|---|---|---|---|"]
        budget = int(limit * 0.6) - sum(len(h) + 1 for h in head)
        for n, s in enumerate(lines):
            src = _source_link(s.source)
            row = f"| `{s.symbol}` | {_md(s.subject)} | {_md(s.text)} | {s.disruption} | {src} |"
            budget -= len(row) + 1
            if budget < 0:
                head.append(f"\n> **Truncated:** {len(lines) - n} more subject(s) not listed.")
                break
            head.append(row)
    head += _md_capacity(plan)
    text = scrub("\n".join(head) + "\n")
    details = [_md_details(c, scrub) for c in plan.changes if c.changing]
    return _fit(text, details, limit)


def _md_capacity(plan: Plan) -> list[str]:
    if plan.capacity is None:
        return []
    from aiplane.gpu.capacity import capacity_lines

    lines = capacity_lines(plan.capacity, plan.capacity_before)
    return ["", "<details><summary>GPU capacity</summary>", "", *[f"- {_md(x)}" for x in lines],
            "", "</details>"]  # fmt: skip


def _fit(text: str, details: Sequence[str], limit: int) -> str:
    notice_room = 400
    budget = limit - len(text) - notice_room
    shown = 0
    parts = [text]
    for block in details:
        if len(block) > budget:
            break
        parts.append(block)
        budget -= len(block)
        shown += 1
    if shown < len(details):
        left = len(details) - shown
        parts.append(
            f"\n> **Truncated:** {left} more object diff(s) not shown to stay under "
            f"{limit:,} characters. Run `aiplane plan --json` for the full plan.\n"
        )
    out = "".join(parts)
    return out if len(out) <= limit else out[: limit - 20] + "\n(truncated)\n"


def _source_link(source: str) -> str:
    """``file#Lnn`` as a link to the file at this commit when running in GitHub Actions."""
    server, repo, sha = (os.environ.get(k, "") for k in
                         ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA"))  # fmt: skip
    if not (source and server and repo and sha):
        return _md(source)
    path = source.removeprefix("./")
    return f"[{_md(source)}]({server}/{repo}/blob/{sha}/{path})"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_details(c: Change, scrub: Scrub) -> str:
    body = "\n".join(text for _, text in diff_lines(c)) or "(no field changes shown)"
    body = body.replace("```", "'''")
    summary = f"<code>{SYMBOL[c.action]} {c.ref}</code> {c.action}, {c.disruption}"
    if c.reason and c.action != "update":
        summary += f": {_html(c.reason)}"
    return scrub(f"\n<details><summary>{summary}</summary>\n\n```diff\n{body}\n```\n</details>\n")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
