"""``aiplane diff FILE [--against REF]``: what a change to a stack file does, in stack terms.

A short alias of ``aiplane plan FILE --against REF`` for a terminal: only the summary (one line
per model, pool, route...), the GPU/cost lines that change and the gates, no per-object field
diffs. ``REF`` defaults to ``HEAD`` (what your uncommitted edits do); it may be any git revision,
a directory of manifests or ``empty``. Exit 0 (also with changes), 1 on error. Secret values are
masked in the diffs it summarises.
"""

from __future__ import annotations

import sys
from dataclasses import replace


def diff_lines(file: str, against: str) -> list[str]:
    """The summary of planning ``file`` against ``against``, as text lines."""
    from aiplane.commands.plan import offline_against
    from aiplane.commands.settings import Settings
    from aiplane.commands.stackfile import render_stack_file
    from aiplane.gpu.capacity import capacity_lines
    from aiplane.output.plan import gate_lines, totals
    from aiplane.output.summary import summarize

    rendered = render_stack_file(file)
    plan = offline_against(file, rendered, against, Settings.from_env())
    plan = replace(plan, capacity=rendered.capacity)
    out = [f"stack {plan.stack}: {file} against {plan.target}"]
    summary = summarize(plan)
    if not summary:
        out.append("  no changes")
    for s in summary:
        tag = f" [{s.disruption}]" if s.disruption not in ("none", "in-place") else ""
        src = f"  ({s.source})" if s.source else ""
        out.append(f"  {s.symbol} {s.subject}: {s.text}{tag}{src}")
    if plan.capacity is not None and plan.capacity_before is not None:
        moved = [x for x in capacity_lines(plan.capacity, plan.capacity_before) if "->" in x]
        out += [f"  gpu {line}" for line in moved]
    out.append(totals(plan))
    gates = plan.gates(allow_disruption=False, allow_delete=False)
    out += [f"blocked: {line}" for line in gate_lines(gates)]
    return out


def diff_main(file: str, against: str) -> int:
    """CLI handler; see the module docstring."""
    sys.stdout.write("\n".join(diff_lines(file, against)) + "\n")
    return 0
