"""``aiplane diff FILE [--against REF]``: what a change to a stack file does, in stack terms.

A short alias of ``aiplane plan FILE --against REF`` for a terminal: only the summary (one line
per model, pool, route...), the GPU/cost lines that change and the gates, no per-object field
diffs. ``REF`` defaults to ``HEAD`` (what your uncommitted edits do); it may be any git revision,
a directory of manifests or ``empty``. Exit 0 (also with changes), 1 on error.
"""

from __future__ import annotations

import sys
from dataclasses import replace


def diff_lines(file: str, against: str) -> list[str]:
    """The summary of planning ``file`` against ``against``, as text lines."""
    from aiplane.cluster.applyset import ApplySet, system_namespace
    from aiplane.cluster.commands import render_file_with_stack, stack_capacity
    from aiplane.cluster.offline import load_against, offline_plan
    from aiplane.cluster.output import gate_lines, totals
    from aiplane.cluster.summary import summarize
    from aiplane.gpu.capacity import capacity_lines

    stack, manifests, loaded = render_file_with_stack(file)
    earlier = []

    def render_earlier(path: str) -> list[dict[str, object]]:
        _name, rendered, before = render_file_with_stack(path)
        earlier.append(before)
        return rendered

    before, target = load_against(against, file, render_earlier)
    applyset = ApplySet(stack, system_namespace())
    plan, _ = offline_plan(manifests, before, stack=stack, stack_file=file, applyset=applyset,
                           target=target)  # fmt: skip
    before_capacity = stack_capacity(earlier[0]) if earlier and earlier[0] else None
    plan = replace(plan, capacity=stack_capacity(loaded), capacity_before=before_capacity)
    out = [f"stack {stack}: {file} against {target}"]
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
    """CLI handler; see the module docstring. Secret values are masked in the diffs it summarises."""
    sys.stdout.write("\n".join(diff_lines(file, against)) + "\n")
    return 0
