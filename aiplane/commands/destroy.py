"""``aiplane destroy FILE``: delete everything the stack owns, shown first like any plan.

Only ApplySet members are deleted (by uid, in reverse stage order: routes before the workloads
they point at, CRDs last); the deletions are gated by ``--allow-delete`` and done under the stack
lock; the labels the stack set on nodes are released; the ApplySet parent goes last, so a run
stopped half-way can be resumed by running destroy again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiplane.errors import AiplaneError
from aiplane.output.console import console
from aiplane.output.progress import Progress
from aiplane.providers.kubernetes.applyset import ApplySet
from aiplane.providers.kubernetes.client import KubeClient
from aiplane.providers.kubernetes.objects import NODE_LABELS_PROVIDER
from aiplane.secrets import Scrubber

if TYPE_CHECKING:
    from aiplane.commands.interrupt import StopSignal
    from aiplane.commands.settings import Settings

EXIT_OK, EXIT_ERROR, EXIT_BLOCKED = 0, 1, 3


def destroy_main(
    file: str,
    *,
    kubeconfig: str | None,
    context: str | None,
    yes: bool,
    allow_delete: bool,
    lock_timeout: float,
    request_timeout: float,
) -> int:
    """Plan the deletion of the stack, show it, and (when allowed and confirmed) carry it out."""
    from aiplane.commands import cluster as cmd
    from aiplane.commands.interrupt import StopSignal
    from aiplane.commands.settings import Settings
    from aiplane.commands.stackfile import render_stack_file

    err = console(stderr=True)
    scrub = Scrubber()
    stop = StopSignal()
    try:
        if not yes and not cmd.stdin_isatty():
            err.print("destroy: stdin is not a terminal, so nobody can confirm; pass --yes",
                      style="bold red")  # fmt: skip
            return EXIT_ERROR
        conf = Settings.from_env()
        rendered = render_stack_file(file)
        with stop, cmd.connect(kubeconfig, context, request_timeout) as client:
            cmd.check_access(client, rendered, "apply", file, conf)
            return _destroy(client, rendered.stack, file, stop=stop, yes=yes,
                            allow_delete=allow_delete, lock_timeout=lock_timeout,
                            scrub=scrub, conf=conf)  # fmt: skip
    except AiplaneError as exc:
        return cmd.stopped_or_error(err, scrub, exc, stop)


def _destroy(
    client: KubeClient,
    stack: str,
    file: str,
    *,
    stop: StopSignal,
    yes: bool,
    allow_delete: bool,
    lock_timeout: float,
    scrub: Scrubber,
    conf: Settings,
) -> int:
    from aiplane.commands import cluster as cmd
    from aiplane.commands.apply import confirm
    from aiplane.commands.plan import show
    from aiplane.plan.engine import apply_plan, build_plan, prepare_all
    from aiplane.providers.kubernetes.lock import default_holder

    err = console(stderr=True)
    out = console()
    applyset = ApplySet(stack, conf.system_namespace)
    parent = client.get("v1", "ConfigMap", applyset.name, applyset.namespace)
    applyset.check_owner(parent)
    run = cmd.open_run(client, stack, file, scrub, [], conf=conf, stop=stop)
    lock = cmd.stack_lock(client, stack, default_holder(), f"destroy {file}", 600, err, conf)
    if parent is not None:
        lock.acquire(lock_timeout)
    try:
        wanted = prepare_all(run, [])  # nothing wanted: every member is a deletion
        plan, lives = build_plan(run, wanted, mode="cluster", target=cmd.cluster_target(client))
        show(plan, plan.gates(allow_disruption=True, allow_delete=allow_delete), "human",
                 scrub)  # fmt: skip
        releases = [c for c in plan.changes if c.address.provider == NODE_LABELS_PROVIDER]
        if parent is None and not plan.has_changes:
            out.print(f"stack {stack}: nothing to destroy (no ApplySet parent)")
            return EXIT_OK
        if plan.has_changes and not allow_delete:
            err.print("destroy: refused; pass --allow-delete; nothing was changed",
                      style="bold red")  # fmt: skip
            return EXIT_BLOCKED
        if not confirm(yes, err):
            return EXIT_ERROR
        with Progress(err) as say:
            report = apply_plan(run, plan, wanted, lives, say=say, health=False)
        stop.check(report)
        if parent is not None:
            client.delete("v1", "ConfigMap", applyset.name, applyset.namespace)
        deleted = len(report.pruned) - len(releases)
        out.print(f"stack {stack}: destroyed: {deleted} deleted, labels released on "
                  f"{len(releases)} node(s).")  # fmt: skip
        return EXIT_OK
    finally:
        lock.release()
