"""The PR comment of one stack's plan, and the check-run conclusion of its exit code.

One comment per stack file, found again by a hidden marker (``<!-- aiplane-plan: PATH -->``) and
edited in place on each push, so a PR never collects a pile of stale plans. The plan's own
markdown (``aiplane plan --markdown``) already puts the summary first, the gates and GPU/cost
delta next and the per-object diffs in collapsed blocks; the comment adds a header and a footer
and is cut, with a notice, to stay under GitHub's 65,536-character limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMMENT_LIMIT = 65_536
MARKER = "<!-- aiplane-plan: {} -->"
NOTICE = (
    "\n\n> **Truncated:** this plan is longer than a GitHub comment allows ({limit:,} "
    "characters); the rest is in the job log and the `aiplane-plans` artifact.\n"
)
# exit code -> (check-run conclusion, what it means)
CONCLUSIONS = {
    0: ("success", "no changes"),
    2: ("success", "changes to apply"),
    3: ("action_required", "blocked by a gate: needs approval"),
    1: ("failure", "plan failed"),
}


def marker(stack_file: str) -> str:
    """The hidden line that identifies the comment of ``stack_file``."""
    return MARKER.format(stack_file.replace("--", "-\\-"))


def conclusion(exit_code: int) -> tuple[str, str]:
    """Check-run conclusion and a short text for an ``aiplane plan --detailed-exitcode`` code."""
    return CONCLUSIONS.get(exit_code, CONCLUSIONS[1])


@dataclass(frozen=True)
class PlanResult:
    """One stack's plan as the action ran it."""

    stack_file: str
    exit_code: int
    markdown: str
    errors: str = ""
    mode: str = "offline"  # offline (against the base branch) or live (against the cluster)
    head_sha: str = ""
    run_url: str = ""


def comment_body(result: PlanResult, limit: int = COMMENT_LIMIT) -> str:
    """The whole comment: marker, status line, the plan (or the error), footer; <= ``limit``."""
    state, meaning = conclusion(result.exit_code)
    icon = {"success": ":white_check_mark:", "action_required": ":no_entry:"}.get(state, ":x:")
    where = "live cluster" if result.mode == "live" else "base branch, offline"
    head = [
        marker(result.stack_file),
        f"{icon} **aiplane plan** `{result.stack_file}` ({where}): {meaning}",
        "",
    ]
    body = lift_capacity_changes(result.markdown.strip())
    if result.exit_code == 1 or not body:
        body = "```text\n" + (_fence_safe(result.errors.strip()) or "(no output)") + "\n```"
    foot = []
    if result.head_sha:
        foot.append(f"Planned at {result.head_sha[:12]}")
    if result.run_url:
        foot.append(f"[run]({result.run_url})")
    tail = "\n\n<sub>" + " · ".join(foot) + "</sub>\n" if foot else "\n"
    return fit("\n".join(head), body, tail, limit)


_CAPACITY = re.compile(r"<details><summary>GPU capacity</summary>\n\n(.*?)\n\n?</details>", re.S)


def lift_capacity_changes(markdown: str) -> str:
    """Show the pools whose GPUs or cost change above the collapsed capacity block: a reviewer
    must see "+8 H100, +$55/h" without expanding anything."""
    found = _CAPACITY.search(markdown)
    if not found:
        return markdown
    moved = [line for line in found.group(1).splitlines()
             if line.startswith("- ") and ("->" in line or "new pool" in line or "removed" in line)]  # fmt: skip
    if not moved:
        return markdown
    lifted = "**GPU / cost change**\n\n" + "\n".join(moved) + "\n\n"
    return markdown[: found.start()] + lifted + markdown[found.start() :]


def fit(head: str, body: str, tail: str, limit: int = COMMENT_LIMIT) -> str:
    """``head + body + tail`` cut inside ``body`` (at a block boundary when possible) so that the
    result, truncation notice included, is at most ``limit`` characters."""
    whole = head + body + tail
    if len(whole) <= limit:
        return whole
    notice = NOTICE.format(limit=limit)
    room = limit - len(head) - len(tail) - len(notice) - 64
    cut = body[: max(room, 0)]
    end = cut.rfind("</details>")
    if end > room // 2:
        cut = cut[: end + len("</details>")]
    else:  # never leave a fence or a <details> open: the notice would render inside it
        if cut.count("```") % 2:
            cut += "\n```"
        cut += "\n</details>" * max(cut.count("<details>") - cut.count("</details>"), 0)
    return head + cut + notice + tail


def _fence_safe(text: str) -> str:
    return re.sub("```", "'''", text)
