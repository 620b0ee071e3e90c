"""``aiplane apply``: apply a saved plan exactly (refusing it when stale), or plan and apply.

Apply always takes the stack's Lease (a saved plan's lock passes to it), shows the plan, refuses
gated changes (exit 3), asks for confirmation unless ``--yes``, then applies stage by stage across
providers, waits for health and prunes last (``aiplane.plan.engine``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from rich.console import Console

from aiplane.commands.cluster import (
    EXIT_BLOCKED,
    EXIT_ERROR,
    EXIT_OK,
    REQUEST_TIMEOUT,
    check_access,
    cluster_target,
    connect,
    cyclic_gc_paused,
    ensure_system_namespace,
    open_run,
    resume_cyclic_gc,
    served_only,
    stack_lock,
    stdin_isatty,
    stopped_or_error,
)
from aiplane.commands.plan import show
from aiplane.commands.settings import Settings
from aiplane.commands.stackfile import render_stack_file
from aiplane.errors import AiplaneError
from aiplane.output.console import console
from aiplane.plan.model import Plan
from aiplane.providers.kubernetes.client import KubeClient
from aiplane.providers.kubernetes.lock import default_holder
from aiplane.secrets import Scrubber

if TYPE_CHECKING:
    from aiplane.commands.interrupt import StopSignal
    from aiplane.plan.address import Address
    from aiplane.plan.engine import Run


@dataclass(frozen=True)
class ApplyControls:
    """apply's --wait/--no-wait, --timeout, --request-timeout (and the signal flag it sets)."""

    wait: bool | None = None  # None: wait unless $AIPLANE_NO_WAIT
    timeout: float | None = None  # None: per kind, capped by $AIPLANE_HEALTH_TIMEOUT
    request_timeout: float = REQUEST_TIMEOUT
    stop: StopSignal | None = None
    detail: bool = False  # --detail: every field diff of a large plan


def apply_main(
    target: str,
    *,
    kubeconfig: str | None,
    context: str | None,
    yes: bool,
    allow_disruption: bool,
    allow_delete: bool,
    allow_namespace_delete: bool = False,
    lock_timeout: float,
    controls: ApplyControls | None = None,
) -> int:
    """``aiplane apply``: apply a saved plan exactly, or plan and apply a stack file.

    SIGINT/SIGTERM (``interrupt``): the requests in flight finish, no new one starts, the lock is
    released, the report printed, and the exit code is 130/143."""
    from aiplane.commands.interrupt import StopSignal

    with cyclic_gc_paused():
        err = console(stderr=True)
        scrub = Scrubber()
        stop = StopSignal()
        controls = replace(controls or ApplyControls(), stop=stop)
        try:
            saved = Plan.load(target)
            if saved is None and not yes and not stdin_isatty():
                err.print("apply: stdin is not a terminal, so nobody can confirm; pass --yes "
                          "(or apply a plan saved with plan --out)", style="bold red")  # fmt: skip
                return EXIT_ERROR
            with stop, connect(kubeconfig, context, controls.request_timeout) as client:
                return _apply(client, target, saved, yes=yes,
                              allow_disruption=allow_disruption, allow_delete=allow_delete,
                              allow_namespace_delete=allow_namespace_delete,
                              lock_timeout=lock_timeout, scrub=scrub, err=err,
                              controls=controls)  # fmt: skip
        except AiplaneError as exc:
            return stopped_or_error(err, scrub, exc, stop)


def _check_target(target: str, saved: Plan, client: KubeClient) -> None:
    if saved.mode != "cluster":
        raise AiplaneError(
            f"{target}: plan was made offline ({saved.target}); it cannot be applied"
        )
    here = cluster_target(client)
    if saved.target != here:
        raise AiplaneError(f"{target}: plan was made against {saved.target}, not {here}")


def _apply(
    client: KubeClient,
    target: str,
    saved: Plan | None,
    *,
    yes: bool,
    allow_disruption: bool,
    allow_delete: bool,
    allow_namespace_delete: bool = False,
    lock_timeout: float,
    scrub: Scrubber,
    err: Console,
    controls: ApplyControls,
) -> int:
    from aiplane.output.progress import Progress
    from aiplane.plan.engine import apply_plan, build_plan, check_fresh, prepare_all

    file = saved.stack_file if saved else target
    if saved is not None:
        _check_target(target, saved, client)
    conf = Settings.from_env()
    if controls.timeout is not None:
        conf = replace(conf, health_timeout=controls.timeout)
    if controls.wait is not None:
        conf = replace(conf, wait=controls.wait)
    # A saved plan is applied as it was resolved (the lock); a stack is planned here and now.
    rendered, _notes = served_only(client, render_stack_file(file, "lock" if saved else "plan"))
    check_access(client, rendered, "apply", file, conf)
    stack = rendered.stack
    run = open_run(client, stack, file, scrub, rendered.resources, conf=conf,
                   stop=controls.stop)  # fmt: skip
    ensure_system_namespace(client, conf.system_namespace)
    lock = stack_lock(client, stack, default_holder(), f"apply {target}", 600, err, conf)
    lock.acquire(lock_timeout, take_from=saved.lock_holder if saved else None)
    stop = lock.keep_alive()
    try:
        wanted = prepare_all(run, rendered.resources)
        if saved is not None:
            if rendered.loaded is not None:
                from aiplane.registry.commands import check_saved_references

                # "plan is stale: mlflow model M alias A moved 1 -> 2", before the engine's check
                check_saved_references(rendered.loaded, saved.changes)
            lives = check_fresh(run, saved, wanted)
            plan = saved
        else:
            plan, lives = build_plan(run, wanted, mode="cluster", target=cluster_target(client),
                                     capacity=rendered.capacity)  # fmt: skip
        gates = plan.gates(
            allow_disruption=allow_disruption,
            allow_delete=allow_delete,
            allow_namespace_delete=allow_namespace_delete,
        )
        show(plan, gates, "human", scrub, detail=controls.detail)
        if gates:
            err.print("apply: refused; nothing was changed", style="bold red")
            return EXIT_BLOCKED
        if not plan.has_changes:
            return _still_healthy(run, [r.address for r in wanted], conf, err)
        if saved is None and not confirm(yes, err):
            return EXIT_ERROR
        if controls.stop is not None:
            controls.stop.check()  # a signal while planning: nothing was changed
        resume_cyclic_gc()
        with Progress(err) as say:
            report = apply_plan(run, plan, wanted, lives, say=say, health=conf.wait)
        console().print(
            f"stack {stack}: apply complete: {len(report.applied)} applied, "
            f"{len(report.pruned)} pruned."
        )
        return EXIT_OK
    finally:
        stop()
        lock.release()


def _still_healthy(run: Run, addresses: list[Address], conf: Settings, err: Console) -> int:
    """Nothing to change is not success while a workload is not ready (an earlier apply timed
    out or was interrupted): exit 1 with the reasons."""
    from aiplane.plan.engine import unhealthy_now

    problems = unhealthy_now(run, addresses) if conf.wait else []
    for p in problems[:20]:
        err.print(f"{run.scrub(p)}", highlight=False, markup=False)
    if problems:
        err.print(f"apply: no changes, but {len(problems)} workload(s) are not ready",
                  style="bold red")  # fmt: skip
        return EXIT_ERROR
    return EXIT_OK


def confirm(yes: bool, err: Console) -> bool:
    """Ask for 'yes' on a terminal (or take --yes); refuse off a terminal."""
    if yes:
        return True
    if not sys.stdin.isatty():
        err.print("apply: refusing to apply without confirmation; pass --yes", style="bold red")
        return False
    answer = input("Apply these changes? Only 'yes' is accepted: ")
    if answer.strip() != "yes":
        err.print("apply: cancelled")
        return False
    return True
