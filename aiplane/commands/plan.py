"""``aiplane plan`` and ``aiplane apply``: the CLI handlers call ``plan_main``/``apply_main``.

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
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rich.console import Console

from aiplane.commands.settings import Settings
from aiplane.commands.stackfile import (
    Manifest,
    Rendered,
    registry_extras,
    render_stack_file,
    stack_name,
)
from aiplane.errors import AiplaneError
from aiplane.output.plan import render_human, render_json, render_markdown
from aiplane.plan.model import Gate, Plan
from aiplane.providers.kubernetes.applyset import ApplySet
from aiplane.providers.kubernetes.client import ClusterUnreachable, KubeClient
from aiplane.providers.kubernetes.kubeconfig import KubeconfigError, load_kubeconfig
from aiplane.providers.kubernetes.lock import StackLock, default_holder
from aiplane.secrets import Scrubber

if TYPE_CHECKING:
    from aiplane.plan.engine import Run
    from aiplane.providers.base import Resource

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BLOCKED = 0, 1, 2, 3
Output = Literal["human", "json", "markdown"]
OFFLINE_HINT = "plan offline with --against empty|DIR|GIT_REV"


def _err(console: Console, scrub: Scrubber, exc: AiplaneError) -> int:
    console.print(f"[bold red]error:[/] {scrub(str(exc))}", highlight=False, markup=True)
    for d in exc.diagnostics:
        console.print(f"  {scrub(d.format())}", highlight=False, markup=False)
    report = getattr(exc, "report", None)
    if report is not None:
        for line in report.lines():
            console.print(f"  {scrub(line)}", highlight=False, markup=False)
    return EXIT_ERROR


def connect(kubeconfig: str | None, context: str | None) -> KubeClient:
    """A client for the chosen context; a missing cluster names the offline alternative."""
    try:
        config = load_kubeconfig(kubeconfig, context)
    except KubeconfigError as exc:
        raise KubeconfigError(f"no cluster to plan against: {exc}; {OFFLINE_HINT}") from exc
    return KubeClient(config)


def ensure_system_namespace(client: KubeClient, name: str) -> None:
    """Create the namespace of the stacks' state and locks when it is missing."""
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    if client.get("v1", "Namespace", name) is None:
        client.apply(ns, field_manager="aiplane")


def show(plan: Plan, gates: Sequence[Gate], output: Output, scrub: Scrubber) -> None:
    """Print the plan to stdout in the chosen form."""
    if output == "json":
        sys.stdout.write(render_json(plan, gates, scrub) + "\n")
    elif output == "markdown":
        sys.stdout.write(render_markdown(plan, gates, scrub))
    else:
        render_human(plan, gates, Console(highlight=False), scrub)


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
    refresh: bool = False,
) -> int:
    """``aiplane plan``: resolve, render, plan against the cluster (or ``--against``), show, save."""
    err = Console(stderr=True, highlight=False)
    scrub = Scrubber()
    try:
        conf = Settings.from_env()
        rendered = render_stack_file(file, "refresh" if refresh else "plan")
        extra, notes = registry_extras(rendered)
        if against:
            plan = _offline(file, rendered, against, conf)
            notes += [str(r.body["move_line"]) for r in extra if r.body.get("move_line")]
        else:
            plan = _plan_cluster(file, rendered, kubeconfig, context, out, scrub, err, conf,
                                 extra)  # fmt: skip
        plan = replace(plan, capacity=rendered.capacity, warnings=(*plan.warnings, *notes))
        gates = plan.gates(allow_disruption=allow_disruption, allow_delete=allow_delete)
        show(plan, gates, output, scrub)
        if out:
            Path(out).write_text(scrub(plan.dumps()) + "\n")
            err.print(f"plan: saved to {out}; apply it with `aiplane apply {out}`")
        return plan_exit(plan, gates, detailed_exitcode)
    except AiplaneError as exc:
        return _err(err, scrub, exc)


def _offline(file: str, rendered: Rendered, against: str, conf: Settings) -> Plan:
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
    return plan


def open_run(
    client: KubeClient, stack: str, file: str, scrub: Scrubber, manifests: list[Manifest],
    *, saving: bool = False, conf: Settings | None = None, extra: Sequence[Resource] = (),
) -> tuple[Run, list[Resource]]:  # fmt: skip
    """The providers this stack needs (those it renders for and those its state records), on
    one Kubernetes client, with the ApplySet parent as the state store; and its resources."""
    from aiplane.plan.engine import Run
    from aiplane.providers.base import ProviderContext
    from aiplane.providers.kubernetes.applyset import ApplySetStore
    from aiplane.providers.kubernetes.objects import resources_of
    from aiplane.providers.registry import make_provider

    conf = conf or Settings.from_env()
    applyset = ApplySet(stack, conf.system_namespace)
    store = ApplySetStore(client, applyset)
    rendered = [*resources_of(manifests), *extra]
    shared: dict[str, object] = {"kube_client": client, "applyset": applyset}
    options = {"health_timeout": conf.health_timeout}
    context = ProviderContext(stack, file, scrub, options, shared, saving, rendered)
    names = {"kubernetes", "node-labels", *(r.provider for r in rendered)}
    names |= set(store.read().inventory)
    providers = {n: make_provider(n, context) for n in sorted(names)}
    return Run(stack, file, providers, store, scrub), rendered


def cluster_target(client: KubeClient) -> str:
    """How a plan names the cluster it was made against."""
    return f"context {client.config.context} ({client.config.server})"


def _plan_cluster(
    file: str,
    rendered: Rendered,
    kubeconfig: str | None,
    context: str | None,
    out: str | None,
    scrub: Scrubber,
    err: Console,
    conf: Settings,
    extra: Sequence[Resource] = (),
) -> Plan:
    from aiplane.plan.engine import build_plan, prepare_all

    stack = rendered.stack
    with connect(kubeconfig, context) as client:
        try:
            run, resources = open_run(client, stack, file, scrub, rendered.manifests,
                                      saving=bool(out), conf=conf, extra=extra)  # fmt: skip
            wanted = prepare_all(run, resources)
            here = cluster_target(client)
            if not out:
                plan = build_plan(run, wanted, mode="cluster", target=here)[0]
                lock = _lock(client, stack, "", "", 0, err, conf)
                held = lock.holder_now()
                note = f"{lock.subject}: held by {held}; an apply now would wait" if held else ""
                return replace(plan, warnings=(*plan.warnings, note)) if note else plan
            plan_id = uuid.uuid4().hex
            holder = f"{default_holder()} plan {plan_id[:12]}"
            ensure_system_namespace(client, conf.system_namespace)
            lock = _lock(client, stack, holder, f"plan --out {out}", conf.plan_lock_ttl, err, conf)
            lock.acquire(conf.lock_timeout)
            try:
                plan = build_plan(run, wanted, mode="cluster", target=here, plan_id=plan_id,
                                  lock_holder=holder)[0]  # fmt: skip
            except BaseException:
                lock.release()
                raise
            if not plan.has_changes:
                lock.release()
            return plan
        except ClusterUnreachable as exc:
            raise ClusterUnreachable(f"{exc}; {OFFLINE_HINT}") from exc


def _lock(
    client: KubeClient, stack: str, holder: str, purpose: str, ttl: int, err: Console,
    conf: Settings,
) -> StackLock:  # fmt: skip
    return StackLock(client, stack, conf.system_namespace, holder, purpose, ttl,
                     say=lambda m: err.print(m, highlight=False, markup=False))  # fmt: skip


def apply_main(
    target: str,
    *,
    kubeconfig: str | None,
    context: str | None,
    yes: bool,
    allow_disruption: bool,
    allow_delete: bool,
    lock_timeout: float,
) -> int:
    """``aiplane apply``: apply a saved plan exactly, or plan and apply a stack file."""
    err = Console(stderr=True, highlight=False)
    scrub = Scrubber()
    try:
        saved = Plan.load(target)
        with connect(kubeconfig, context) as client:
            return _apply(client, target, saved, yes=yes, allow_disruption=allow_disruption,
                          allow_delete=allow_delete, lock_timeout=lock_timeout, scrub=scrub,
                          err=err)  # fmt: skip
    except AiplaneError as exc:
        return _err(err, scrub, exc)


def unlock_main(file: str, holder: str, *, kubeconfig: str | None, context: str | None) -> int:
    """``aiplane force-unlock``: break the stack's lock when the run holding it is gone."""
    err = Console(stderr=True, highlight=False)
    scrub = Scrubber()
    try:
        stack = stack_name(file)
        with connect(kubeconfig, context) as client:
            conf = Settings.from_env()
            lock = _lock(client, stack, default_holder(), "force-unlock", 0, err, conf)
            lock.force_release(holder)
            print(f"{lock.subject}: lock of {holder} released")
        return EXIT_OK
    except AiplaneError as exc:
        return _err(err, scrub, exc)


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
    lock_timeout: float,
    scrub: Scrubber,
    err: Console,
) -> int:
    from aiplane.plan.engine import apply_plan, build_plan, check_fresh, prepare_all

    file = saved.stack_file if saved else target
    if saved is not None:
        _check_target(target, saved, client)
    conf = Settings.from_env()
    # A saved plan is applied as it was resolved (the lock); a stack is planned here and now.
    rendered = render_stack_file(file, "lock" if saved else "plan")
    extra, _notes = registry_extras(rendered)
    stack = rendered.stack
    run, resources = open_run(client, stack, file, scrub, rendered.manifests, conf=conf,
                              extra=extra)  # fmt: skip
    ensure_system_namespace(client, conf.system_namespace)
    lock = _lock(client, stack, default_holder(), f"apply {target}", 600, err, conf)
    lock.acquire(lock_timeout, take_from=saved.lock_holder if saved else None)
    stop = lock.keep_alive()
    try:
        wanted = prepare_all(run, resources)
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
        gates = plan.gates(allow_disruption=allow_disruption, allow_delete=allow_delete)
        show(plan, gates, "human", scrub)
        if gates:
            err.print("apply: refused; nothing was changed", style="bold red")
            return EXIT_BLOCKED
        if not plan.has_changes:
            return EXIT_OK
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
