"""Show a plan: human (coloured, stack terms first), JSON (versioned) and PR markdown.

Every renderer ends in the ``Scrubber``, so a Secret value that slipped into a message is still
masked. Markdown stays under ``MARKDOWN_LIMIT`` characters (GitHub's comment limit).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence

from rich.console import Console
from rich.text import Text

from aiplane.output.field_lines import diff_lines
from aiplane.output.review import is_destructive, review, review_order
from aiplane.output.summary import SYMBOL, SubjectLine, summarize
from aiplane.plan.model import Change, Gate, Plan

MARKDOWN_LIMIT = 65_536
DETAIL_LIMIT = 100
"""Past this many objects with a diff, the human plan shows per-field diffs of destructive
changes only (the summary above still names every subject); ``detail=True`` (``--detail``) and
the JSON plan show all. Formatting 5,000 object diffs took longer than planning them."""
__all__ = ["diff_lines", "render_human", "render_json", "render_markdown", "summarize"]
STYLE = {"create": "green", "update": "yellow", "replace": "magenta", "delete": "red"}
Scrub = Callable[[str], str]


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
    return [f"{g.address}: {g.message} is blocked; rerun with {g.flag}" for g in gates]


def _header_line(c: Change) -> str:
    sym = SYMBOL.get(c.action, "=")
    extras: list[str] = [c.action, c.disruption]
    if c.estimate:
        extras.append("estimate")
    source = f"  {c.source}" if c.source else ""
    generic = c.reason == f"{len(c.diffs)} field(s) change"
    why = f" - {c.reason}" if c.reason and not generic else ""
    return f"{sym} {c.address} ({', '.join(extras)}){why}{source}"


def render_human(
    plan: Plan, gates: Sequence[Gate], console: Console, scrub: Scrub, *, detail: bool = False
) -> None:
    """Print the plan for a terminal (built as one Text: one print is much faster than many).

    Past ``DETAIL_LIMIT`` objects only destructive changes get their field diffs, unless
    ``detail``."""
    out = Text()

    def say(text: str, style: str = "") -> None:
        out.append(scrub(text) + "\n", style=style)

    say(f"aiplane plan: stack {plan.stack} ({plan.stack_file}) against {plan.target}", "bold")
    for w in plan.warnings:
        say(f"warning: {w}", "yellow")
    _say_capacity(plan, say)
    sections = review(plan)
    if not sections:
        drift = [c for c in plan.changes if c.action == "drift-expected"]
        what = (
            "the target matches the stack"
            if not drift
            else (f"{len(drift)} object(s) show expected drift only")
        )
        say(f"stack {plan.stack}: no changes; {what}.", "green")  # fmt: skip
    else:
        for title, lines in (
            ("Destructive (deletes, replaces, node-disruptive, namespaces)", sections.destructive),
            ("Changed outside aiplane (this plan undoes it)", sections.drift),
            ("Summary", sections.rest),
        ):
            if lines:
                say(f"\n{title}", "bold")
            for s in lines:
                tag = f" [{s.disruption}]" if s.disruption not in ("none", "in-place") else ""
                src = f"  ({s.source})" if s.source else ""
                say(f"  {s.symbol} {s.subject}: {s.text}{tag}{src}", STYLE[s.action])
        _say_changes(plan, say, detail)
    say("\n" + totals(plan), "bold")
    for line in gate_lines(gates):
        say(f"blocked: {line}", "bold red")
    out.rstrip()
    console.print(out, soft_wrap=True)


def _say_changes(plan: Plan, say: Callable[[str, str], None], detail: bool) -> None:
    quiet = [c for c in plan.changes if not c.changing and c.expected_drift]
    every = [*review_order(plan.changes), *quiet]
    shown = (
        every if detail or len(every) <= DETAIL_LIMIT else [c for c in every if is_destructive(c)]
    )
    say("\nChanges", "bold")
    for c in shown:
        say(f"  {_header_line(c)}", "bold " + STYLE.get(c.action, "dim"))
        for style, text in diff_lines(c):
            say(f"      {text}", style)
    if len(shown) < len(every):
        say(
            f"  {len(every) - len(shown)} more object diff(s) not shown ({len(every)} objects "
            f"differ, over {DETAIL_LIMIT}); rerun with --detail, or --json for the full plan",
            "dim",
        )


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
        {"address": g.address.to_json(), "flag": g.flag, "message": g.message} for g in gates
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
    sections = review(plan)
    if sections.destructive:  # never truncated
        head += ["", "**Destructive changes (deletes, replaces, node-disruptive, namespaces)**"]
        head += [_TABLE, _RULE, *[_md_row(s) for s in sections.destructive]]
    budget = int(limit * 0.6) - sum(len(h) + 1 for h in head)
    for title, lines in (
        ("**Changed outside aiplane** (this plan undoes those edits)", sections.drift),
        ("**Other changes**" if sections.destructive else "", sections.rest),
    ):
        if lines:
            head += ["", title, _TABLE, _RULE] if title else ["", _TABLE, _RULE]
        for n, s in enumerate(lines):
            row = _md_row(s)
            budget -= len(row) + 1
            if budget < 0:
                head.append(f"\n> **Truncated:** {len(lines) - n} more subject(s) not listed.")
                break
            head.append(row)
    head += _md_capacity(plan)
    text = scrub("\n".join(head) + "\n")
    details = [_md_details(c, scrub) for c in review_order(plan.changes)]
    return _fit(text, details, limit)


_TABLE = "| | Subject | Change | Disruption | Source |"
_RULE = "|---|---|---|---|---|"


def _md_row(s: SubjectLine) -> str:
    src = _source_link(s.source)
    return f"| `{s.symbol}` | {_md(s.subject)} | {_md(s.text)} | {s.disruption} | {src} |"


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
    summary = f"<code>{SYMBOL[c.action]} {c.address}</code> {c.action}, {c.disruption}"
    if c.reason and c.action != "update":
        summary += f": {_html(c.reason)}"
    return scrub(f"\n<details><summary>{summary}</summary>\n\n```diff\n{body}\n```\n</details>\n")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
