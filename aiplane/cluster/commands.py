"""``aiplane plan`` and ``aiplane apply``: the CLI handlers call ``plan_main``/``apply_main``.

Exit codes (plan with ``--detailed-exitcode``; apply always): 0 no changes (or applied),
1 error, 2 changes present (plan), 3 blocked by a gate (node-disruptive change without
``--allow-disruption``, a deletion or replacement without ``--allow-delete``).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from rich.console import Console

from aiplane.cluster.applyset import ApplySet, system_namespace
from aiplane.cluster.client import ClusterUnreachable, KubeClient
from aiplane.cluster.kubeconfig import KubeconfigError, load_kubeconfig
from aiplane.cluster.lock import StackLock, default_holder
from aiplane.cluster.masking import Scrubber
from aiplane.cluster.objects import Manifest
from aiplane.cluster.output import render_human, render_json, render_markdown
from aiplane.cluster.plan import Gate, Plan
from aiplane.errors import AiplaneError

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BLOCKED = 0, 1, 2, 3
Output = Literal["human", "json", "markdown"]
PLAN_LOCK_TTL = int(os.environ.get("AIPLANE_PLAN_LOCK_TTL", "900"))
OFFLINE_HINT = "plan offline with --against empty|DIR|GIT_REV"


def render_file(path: str) -> tuple[str, list[Manifest]]:
    """Load, check and render a stack file: (stack name, manifests)."""
    from aiplane.render import render_stack  # type: ignore[attr-defined,unused-ignore]
    from aiplane.stack.loader import load_and_check  # type: ignore[import-not-found,unused-ignore]

    loaded = load_and_check(path)
    manifests: list[Manifest] = list(render_stack(loaded))
    return str(loaded.stack.metadata.name), manifests


def _render_only(path: str) -> list[Manifest]:
    return render_file(path)[1]


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


def ensure_system_namespace(client: KubeClient) -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": system_namespace()}}
    if client.get("v1", "Namespace", system_namespace()) is None:
        client.apply(ns, field_manager="aiplane")


def show(plan: Plan, gates: Sequence[Gate], output: Output, scrub: Scrubber) -> None:
    if output == "json":
        sys.stdout.write(render_json(plan, gates, scrub) + "\n")
    elif output == "markdown":
        sys.stdout.write(render_markdown(plan, gates, scrub))
    else:
        render_human(plan, gates, Console(highlight=False), scrub)


def plan_exit(plan: Plan, gates: Sequence[Gate], detailed: bool) -> int:
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
) -> int:
    err = Console(stderr=True, highlight=False)
    scrub = Scrubber()
    try:
        stack, manifests = render_file(file)
        if against:
            plan = _offline(file, stack, manifests, against)
        else:
            plan = _plan_cluster(file, stack, manifests, kubeconfig, context, out, scrub, err)
        gates = plan.gates(allow_disruption=allow_disruption, allow_delete=allow_delete)
        show(plan, gates, output, scrub)
        if out:
            Path(out).write_text(scrub(plan.dumps()) + "\n")
            err.print(f"plan: saved to {out}; apply it with `aiplane apply {out}`")
        return plan_exit(plan, gates, detailed_exitcode)
    except AiplaneError as exc:
        return _err(err, scrub, exc)


def _offline(file: str, stack: str, manifests: list[Manifest], against: str) -> Plan:
    from aiplane.cluster.offline import load_against, offline_plan

    before, target = load_against(against, file, _render_only)
    applyset = ApplySet(stack, system_namespace())
    plan, _ = offline_plan(manifests, before, stack=stack, stack_file=file, applyset=applyset,
                           target=target)  # fmt: skip
    return plan


def _plan_cluster(
    file: str,
    stack: str,
    manifests: list[Manifest],
    kubeconfig: str | None,
    context: str | None,
    out: str | None,
    scrub: Scrubber,
    err: Console,
) -> Plan:
    from aiplane.cluster.planner import ClusterPlanner

    with connect(kubeconfig, context) as client:
        planner = ClusterPlanner(client, stack=stack, stack_file=file, scrubber=scrub,
                                 applyset=ApplySet(stack, system_namespace()))  # fmt: skip
        try:
            if not out:
                return planner.plan(manifests)[0]
            plan_id = uuid.uuid4().hex
            holder = f"{default_holder()} plan {plan_id[:12]}"
            ensure_system_namespace(client)
            lock = _lock(client, stack, holder, f"plan --out {out}", PLAN_LOCK_TTL, err)
            lock.acquire(float(os.environ.get("AIPLANE_LOCK_TIMEOUT", "30")))
            plan = planner.plan(manifests, plan_id=plan_id, lock_holder=holder)[0]
            if not plan.has_changes:
                lock.release()
            return plan
        except ClusterUnreachable as exc:
            raise ClusterUnreachable(f"{exc}; {OFFLINE_HINT}") from exc


def _lock(
    client: KubeClient, stack: str, holder: str, purpose: str, ttl: int, err: Console
) -> StackLock:
    return StackLock(client, stack, system_namespace(), holder, purpose, ttl,
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
    err = Console(stderr=True, highlight=False)
    scrub = Scrubber()
    try:
        saved = _read_saved_plan(target)
        with connect(kubeconfig, context) as client:
            return _apply(client, target, saved, yes=yes, allow_disruption=allow_disruption,
                          allow_delete=allow_delete, lock_timeout=lock_timeout, scrub=scrub,
                          err=err)  # fmt: skip
    except AiplaneError as exc:
        return _err(err, scrub, exc)


def _read_saved_plan(target: str) -> Plan | None:
    path = Path(target)
    if path.suffix != ".json" or not path.is_file():
        return None
    return Plan.loads(path.read_text())


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
    from aiplane.cluster.apply import Applier, check_fresh
    from aiplane.cluster.planner import ClusterPlanner

    file = saved.stack_file if saved else target
    stack, manifests = render_file(file)
    if saved is not None and saved.mode != "cluster":
        raise AiplaneError(
            f"{target}: plan was made offline ({saved.target}); it cannot be applied"
        )
    planner = ClusterPlanner(client, stack=stack, stack_file=file, scrubber=scrub,
                             applyset=ApplySet(stack, system_namespace()))  # fmt: skip
    ensure_system_namespace(client)
    lock = _lock(client, stack, default_holder(), f"apply {target}", 600, err)
    lock.acquire(lock_timeout, take_from=saved.lock_holder if saved else None)
    stop = lock.keep_alive()
    try:
        if saved is not None:
            desired = planner.prepare(manifests)
            check_fresh(planner, saved, desired)
            plan = saved
        else:
            plan, desired = planner.plan(manifests)
        gates = plan.gates(allow_disruption=allow_disruption, allow_delete=allow_delete)
        show(plan, gates, "human", scrub)
        if gates:
            err.print("apply: refused; nothing was changed", style="bold red")
            return EXIT_BLOCKED
        if not plan.has_changes:
            return EXIT_OK
        if saved is None and not _confirm(yes, err):
            return EXIT_ERROR
        say = _progress(err)
        report = Applier(planner, plan, desired, say=say, wait=_wait_enabled()).run()
        Console(highlight=False).print(
            f"Apply complete: {len(report.applied)} applied, {len(report.pruned)} pruned."
        )
        return EXIT_OK
    finally:
        stop()
        lock.release()


def _wait_enabled() -> bool:
    return os.environ.get("AIPLANE_NO_WAIT", "") not in ("1", "true", "yes")


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


def _progress(err: Console) -> Any:
    def say(message: str) -> None:
        err.print(message, highlight=False, markup=False)

    return say
