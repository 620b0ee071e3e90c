"""What a reviewer must see first: destructive changes, then drift, then everything else.

Destructive means a delete, a replace (delete + create), a node-disruptive change (a MIG
re-partition drains GPU nodes) or any change to a Namespace. Those rows are never truncated: a
PR comment of a plan with a thousand creates still names every deletion. Drift is a change that
undoes an edit made outside aiplane (the Kubernetes provider names the field manager that made
it); it gets its own section, since the stack did not ask for it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from aiplane.output.summary import SubjectLine, summarize
from aiplane.plan.model import CHANGED_OUTSIDE, Change, Plan


def is_destructive(c: Change) -> bool:
    """Whether a change deletes, replaces, disrupts nodes or touches a Namespace."""
    return (
        c.action in ("delete", "replace")
        or c.disruption == "node-disruptive"
        or (c.changing and c.address.kind == "Namespace")
    )


def is_drift(c: Change) -> bool:
    """Whether a change only undoes an edit made outside aiplane."""
    return c.changing and CHANGED_OUTSIDE in c.reason


@dataclass(frozen=True)
class Review:
    """The summary lines in review order, by section."""

    destructive: list[SubjectLine]
    drift: list[SubjectLine]
    rest: list[SubjectLine]

    def __bool__(self) -> bool:
        return bool(self.destructive or self.drift or self.rest)


def review(plan: Plan) -> Review:
    """Summarise each section's changes on their own (a subject can appear in two sections)."""
    destructive = [c for c in plan.changes if is_destructive(c)]
    drift = [c for c in plan.changes if not is_destructive(c) and is_drift(c)]
    taken = {id(c) for c in [*destructive, *drift]}
    rest = [c for c in plan.changes if id(c) not in taken]
    return Review(
        summarize(replace(plan, changes=tuple(destructive))),
        summarize(replace(plan, changes=tuple(drift))),
        summarize(replace(plan, changes=tuple(rest))),
    )


def review_order(changes: tuple[Change, ...]) -> list[Change]:
    """Changing objects, destructive ones first, then drift, then the others (stable)."""
    changing = [c for c in changes if c.changing]
    return sorted(changing, key=lambda c: 0 if is_destructive(c) else 1 if is_drift(c) else 2)
