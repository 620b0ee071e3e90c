"""``aiplane plan``: what apply would change, against the cluster or another revision.

Exit codes (plan with ``--detailed-exitcode``; apply always): 0 no changes (or applied),
1 error, 2 changes present (plan), 3 blocked by a gate (node-disruptive change without
``--allow-disruption``, a deletion or replacement without ``--allow-delete``).

Where a plan compares:
* default: the cluster of the kubeconfig context. No kubeconfig, or an API server that does not
  answer, is an error (exit 1) that names the offline alternative; aiplane never silently falls
  back to an offline plan, so CI cannot mistake "no cluster" for "no changes".
* ``--against empty``: nothing (every object is new): the first command of the README, no cluster.
* ``--against DIR``: the manifests in DIR; ``--against REV``: the stack file at git revision REV,
  rendered. Offline plans are client-side (no API defaults, no live drift) and cannot be applied.

Saved plans (``--out``) take the stack's Lease at plan time (TTL ``AIPLANE_PLAN_LOCK_TTL``,
default 900 s) and pass it to ``apply PLAN``, which re-renders the stack, refuses a stale plan,
then applies exactly the planned changes. A plain ``plan`` only warns when the lock is held.

Settings (``AIPLANE_*``) are read once per command (``settings``). A stack file may also be a
pre-rendered manifest bundle (``stackfile``).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rich.console import Console

from aiplane.commands.cluster import (
    EXIT_BLOCKED,
    EXIT_CHANGES,
    EXIT_OK,
    OFFLINE_HINT,
    REQUEST_TIMEOUT,
    check_access,
    cluster_target,
    connect,
    cyclic_gc_paused,
    ensure_system_namespace,
    open_run,
    print_error,
    served_only,
    stack_lock,
)
from aiplane.commands.settings import Settings
from aiplane.commands.stackfile import (
    Manifest,
    Rendered,
    render_stack_file,
)
from aiplane.errors import AiplaneError
from aiplane.output.console import console
from aiplane.output.plan import render_human, render_json, render_markdown
from aiplane.plan.model import Gate, Plan
from aiplane.providers.kubernetes.applyset import ApplySet
from aiplane.providers.kubernetes.client import ClusterUnreachable, KubeClient
from aiplane.providers.kubernetes.lock import default_holder
from aiplane.secrets import Scrubber

if TYPE_CHECKING:
    pass

Output = Literal["human", "json", "markdown"]


def show(
    plan: Plan, gates: Sequence[Gate], output: Output, scrub: Scrubber, *, detail: bool = False
) -> None:
    """Print the plan to stdout in the chosen form (``detail``: every diff of a large plan)."""
    if output == "json":
        sys.stdout.write(render_json(plan, gates, scrub) + "\n")
    elif output == "markdown":
        sys.stdout.write(render_markdown(plan, gates, scrub))
    else:
        render_human(plan, gates, console(), scrub, detail=detail)


def plan_exit(plan: Plan, gates: Sequence[Gate], detailed: bool) -> int:
    """The exit code of ``plan`` (see the module docstring)."""
    if not detailed:
        return EXIT_OK
    if gates:
        return EXIT_BLOCKED
    return EXIT_CHANGES if plan.has_changes else EXIT_OK


def plan_main(
    file: str,
    *,
    kubeconfig: str | None,
    context: str | None,
    output: Output,
    out: str | None,
    detailed_exitcode: bool,
    against: str | None,
    allow_disruption: bool,
    allow_delete: bool,
    request_timeout: float = REQUEST_TIMEOUT,
    refresh: bool = False,
    allow_namespace_delete: bool = False,
    detail: bool = False,
) -> int:
    """``aiplane plan``: resolve, render, plan against the cluster (or ``--against``), show,
    save. ``refresh``: resolve every registry reference again (and update aiplane.lock)."""
    with cyclic_gc_paused():
        err = console(stderr=True)
        scrub = Scrubber()
        try:
            conf = Settings.from_env()
            rendered = render_stack_file(file, "refresh" if refresh else "plan")
            for warning in rendered.loaded.warnings if rendered.loaded is not None else ():
                # What the targets approximate or drop (e.g. a gateway field), located in the file.
                print(scrub(warning.format()), file=sys.stderr)
            if against:
                plan = offline_against(file, rendered, against, conf)
            else:
                plan = _plan_cluster(file, rendered, connect(kubeconfig, context, request_timeout),
                                     out, scrub, err, conf)  # fmt: skip
            notes = rendered.registry_notes()
            if against:  # offline there is no registry read to show a move as a change: say it here
                notes += [str(r.body["move_line"]) for r in rendered.resources
                          if r.body.get("move_line")]  # fmt: skip
            plan = replace(plan, capacity=rendered.capacity, warnings=(*plan.warnings, *notes))
            gates = plan.gates(
                allow_disruption=allow_disruption,
                allow_delete=allow_delete,
                allow_namespace_delete=allow_namespace_delete,
            )
            show(plan, gates, output, scrub, detail=detail)
            if out:
                Path(out).write_text(scrub(plan.dumps()) + "\n")
                err.print(f"plan: saved to {out}; apply it with `aiplane apply {out}`")
            return plan_exit(plan, gates, detailed_exitcode)
        except AiplaneError as exc:
            return print_error(err, scrub, exc)


OFFLINE_PROVIDERS = frozenset({"kubernetes", "node-labels"})  # offline_plan covers these


def offline_against(file: str, rendered: Rendered, against: str, conf: Settings) -> Plan:
    """The offline plan of ``rendered`` against ``--against`` (empty, a directory, a git revision),
    with the earlier revision's GPU capacity for the delta."""
    from aiplane.providers.kubernetes.offline import load_against, offline_plan

    earlier: list[Rendered] = []

    def render_earlier(path: str) -> list[Manifest]:
        # Keep the earlier revision's capacity too, so the plan can show the GPU delta.
        earlier.append(render_stack_file(path))
        return earlier[-1].manifests

    before, target = load_against(against, file, render_earlier)
    applyset = ApplySet(rendered.stack, conf.system_namespace)
    plan = offline_plan(rendered.manifests, before, stack=rendered.stack, stack_file=file,
                        applyset=applyset, target=target)  # fmt: skip
    if earlier:
        plan = replace(plan, capacity_before=earlier[0].capacity)
    others = [r for r in rendered.resources if r.provider not in OFFLINE_PROVIDERS]
    was = [
        r for r in (earlier[0].resources if earlier else []) if r.provider not in OFFLINE_PROVIDERS
    ]
    if others or was:
        from aiplane.plan.engine import offline_changes

        plan = replace(plan, changes=(*plan.changes, *offline_changes(others, was)))
    return plan


def _plan_cluster(
    file: str,
    rendered: Rendered,
    connected: KubeClient,
    out: str | None,
    scrub: Scrubber,
    err: Console,
    conf: Settings,
) -> Plan:
    from aiplane.plan.engine import build_plan, prepare_all

    stack = rendered.stack
    with connected as client:
        try:
            rendered, notes = served_only(client, rendered)
            check_access(client, rendered, "apply" if out else "plan", file, conf)
            run = open_run(
                client, stack, file, scrub, rendered.resources, saving=bool(out), conf=conf
            )
            wanted = prepare_all(run, rendered.resources)
            here = cluster_target(client)
            if not out:
                plan = build_plan(run, wanted, mode="cluster", target=here)[0]
                plan = replace(plan, warnings=(*plan.warnings, *notes))
                lock = stack_lock(client, stack, "", "", 0, err, conf)
                held = lock.holder_now()
                note = f"{lock.subject}: held by {held}; an apply now would wait" if held else ""
                return replace(plan, warnings=(*plan.warnings, note)) if note else plan
            plan_id = uuid.uuid4().hex
            holder = f"{default_holder()} plan {plan_id[:12]}"
            ensure_system_namespace(client, conf.system_namespace)
            lock = stack_lock(
                client, stack, holder, f"plan --out {out}", conf.plan_lock_ttl, err, conf
            )
            lock.acquire(conf.lock_timeout)
            try:
                plan = build_plan(run, wanted, mode="cluster", target=here, plan_id=plan_id,
                                  lock_holder=holder)[0]  # fmt: skip
                plan = replace(plan, warnings=(*plan.warnings, *notes))
            except BaseException:
                lock.release()
                raise
            if not plan.has_changes:
                lock.release()
            return plan
        except ClusterUnreachable as exc:
            raise ClusterUnreachable(f"{exc}; {OFFLINE_HINT}") from exc
