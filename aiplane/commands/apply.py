"""``aiplane apply``: apply a saved plan exactly (refusing it when stale), or plan and apply.

Apply always takes the stack's Lease (a saved plan's lock passes to it), shows the plan, refuses
gated changes (exit 3), asks for confirmation unless ``--yes``, then applies stage by stage across
providers, waits for health and prunes last (``aiplane.plan.engine``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Console

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
from aiplane.plan.model import Plan
from aiplane.providers.kubernetes.client import KubeClient
from aiplane.providers.kubernetes.lock import default_holder
from aiplane.secrets import Scrubber

if TYPE_CHECKING:
    from aiplane.plan.address import Address
    from aiplane.plan.engine import Run


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
) -> int:
    """``aiplane apply``: apply a saved plan exactly, or plan and apply a stack file."""
    err = Console(stderr=True, highlight=False)
    scrub = Scrubber()
    try:
        saved = Plan.load(target)
        with connect(kubeconfig, context) as client:
            return _apply(client, target, saved, yes=yes, allow_disruption=allow_disruption,
                          allow_delete=allow_delete, allow_namespace_delete=allow_namespace_delete,
                          lock_timeout=lock_timeout, scrub=scrub,
                          err=err)  # fmt: skip
    except AiplaneError as exc:
        return print_error(err, scrub, exc)


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
) -> int:
    from aiplane.plan.engine import apply_plan, build_plan, check_fresh, prepare_all

    file = saved.stack_file if saved else target
    if saved is not None:
        _check_target(target, saved, client)
    conf = Settings.from_env()
    rendered = render_stack_file(file)
    stack = rendered.stack
    run = open_run(client, stack, file, scrub, rendered.resources, conf=conf)
    ensure_system_namespace(client, conf.system_namespace)
    lock = stack_lock(client, stack, default_holder(), f"apply {target}", 600, err, conf)
    lock.acquire(lock_timeout, take_from=saved.lock_holder if saved else None)
    stop = lock.keep_alive()
    try:
        wanted = prepare_all(run, rendered.resources)
        if saved is not None:
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
        show(plan, gates, "human", scrub)
        if gates:
            err.print("apply: refused; nothing was changed", style="bold red")
            return EXIT_BLOCKED
        if not plan.has_changes:
            return _still_healthy(run, [r.address for r in wanted], conf, err)
        if saved is None and not _confirm(yes, err):
            return EXIT_ERROR
        report = apply_plan(run, plan, wanted, lives, say=_progress(err), health=conf.wait)
        Console(highlight=False).print(
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


def _confirm(yes: bool, err: Console) -> bool:
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


def _progress(err: Console, every: float = 10.0) -> Callable[[str], None]:
    """Print progress lines, but a repeated one (a health wait polls twice a second) only every
    ``every`` seconds."""
    last_text, last_at = [""], [0.0]

    def say(message: str) -> None:
        now = time.monotonic()
        if message == last_text[0] and now - last_at[0] < every:
            return
        last_text[0], last_at[0] = message, now
        err.print(message, highlight=False, markup=False)

    return say
