"""``aiplane import FILE ADDRESS...``: take over objects that exist without this stack's ApplySet.

Plan and apply refuse to adopt an existing object the stack does not own (they name its current
manager). Import is the one way in: it plans the whole stack with the named addresses allowed to
be adopted, shows only their changes, asks for confirmation (or ``--yes``), honours the same gates
as apply, and applies only them. A configured object (the GPU Operator's ClusterPolicy) is imported
by taking over just the fields the stack sets; it still gets no ownership labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from rich.console import Console

from aiplane.commands.apply import confirm
from aiplane.commands.cluster import (
    EXIT_BLOCKED,
    EXIT_ERROR,
    EXIT_OK,
    cluster_target,
    connect,
    ensure_system_namespace,
    open_run,
    print_error,
    stack_lock,
)
from aiplane.commands.plan import show
from aiplane.commands.settings import Settings
from aiplane.commands.stackfile import render_stack_file
from aiplane.errors import AiplaneError
from aiplane.output.progress import Progress
from aiplane.providers.kubernetes.lock import default_holder
from aiplane.secrets import Scrubber


def import_main(
    file: str,
    addresses: Sequence[str],
    *,
    kubeconfig: str | None,
    context: str | None,
    yes: bool,
    allow_disruption: bool,
    lock_timeout: float,
) -> int:
    """``aiplane import``: adopt the named existing objects into the stack (see module doc)."""
    from aiplane.plan.engine import apply_plan, build_plan, prepare_all

    err = Console(stderr=True, highlight=False)
    scrub = Scrubber()
    try:
        conf = Settings.from_env()
        rendered = render_stack_file(file)
        with connect(kubeconfig, context) as client:
            run = open_run(client, rendered.stack, file, scrub, rendered.resources, conf=conf,
                           imports=addresses)  # fmt: skip
            wanted = prepare_all(run, rendered.resources)
            known = {str(r.address) for r in wanted}
            unknown = [a for a in addresses if a not in known]
            if unknown:
                raise AiplaneError(
                    f"import: {', '.join(unknown)}: the stack does not render it "
                    "(addresses read Kind/namespace/name, as plan prints them)"
                )
            ensure_system_namespace(client, conf.system_namespace)
            lock = stack_lock(client, rendered.stack, default_holder(), f"import {file}", 600,
                              err, conf)  # fmt: skip
            lock.acquire(lock_timeout)
            try:
                plan, lives = build_plan(run, wanted, mode="cluster",
                                         target=cluster_target(client))  # fmt: skip
                chosen = set(addresses)
                plan = replace(plan, changes=tuple(
                    c for c in plan.changes if str(c.address) in chosen
                ))  # fmt: skip
                gates = plan.gates(allow_disruption=allow_disruption, allow_delete=False)
                show(plan, gates, "human", scrub)
                if gates:
                    err.print("import: refused; nothing was changed", style="bold red")
                    return EXIT_BLOCKED
                if not plan.has_changes:
                    return EXIT_OK
                if not confirm(yes, err):
                    return EXIT_ERROR
                with Progress(err) as say:
                    report = apply_plan(run, plan, wanted, lives, say=say, health=conf.wait)
            finally:
                lock.release()
        Console(highlight=False).print(
            f"stack {rendered.stack}: import complete: {len(report.applied)} imported."
        )
        return EXIT_OK
    except AiplaneError as exc:
        return print_error(err, scrub, exc)
