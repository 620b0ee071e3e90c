"""What the cluster commands share: connecting, the providers of a run, the lock, errors."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Literal

from rich.console import Console

from aiplane.commands.settings import Settings
from aiplane.errors import AiplaneError
from aiplane.providers.kubernetes.applyset import ApplySet
from aiplane.providers.kubernetes.client import KubeClient
from aiplane.providers.kubernetes.kubeconfig import KubeconfigError, load_kubeconfig
from aiplane.providers.kubernetes.lock import StackLock
from aiplane.secrets import Scrubber

if TYPE_CHECKING:
    from aiplane.commands.interrupt import StopSignal
    from aiplane.commands.stackfile import Rendered
    from aiplane.plan.engine import Run
    from aiplane.providers.base import Resource

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BLOCKED = 0, 1, 2, 3
OFFLINE_HINT = "plan offline with --against empty|DIR|GIT_REV"
# Per request, retries included. kubectl's default (0) waits forever once connected; a CI job
# needs an answer, so aiplane bounds it (``--request-timeout 0`` restores kubectl's behaviour).
REQUEST_TIMEOUT = 30.0


def print_error(console: Console, scrub: Scrubber, exc: AiplaneError) -> int:
    """Print a scrubbed error, its diagnostics and any apply report; return exit code 1."""
    console.print(f"[bold red]error:[/] {scrub(str(exc))}", highlight=False, markup=True)
    for d in exc.diagnostics:
        console.print(f"  {scrub(d.format())}", highlight=False, markup=False)
    report = getattr(exc, "report", None)
    if report is not None:
        for line in report.lines():
            console.print(f"  {scrub(line)}", highlight=False, markup=False)
    return EXIT_ERROR


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """For plan and apply, which decode and compare thousands of objects: the cyclic collector
    stays off inside (until ``resume_cyclic_gc``). Its passes walk millions of young objects
    and find almost nothing: a 5,000-object plan spent 0.2 s of its 1.5 s of CPU in 56 passes
    that freed 1,600 objects. Reference counting frees everything else as before; the few
    cycles wait. The collector's settings are restored on the way out (tests run commands
    in-process)."""
    enabled, thresholds = gc.isenabled(), gc.get_threshold()
    gc.disable()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if enabled:
            gc.enable()


def resume_cyclic_gc() -> None:
    """Before an apply's writes and health waits (which may poll for many minutes): the
    collector again (at the threshold ``aiplane.cli`` set when the process started)."""
    gc.enable()


def connect(
    kubeconfig: str | None, context: str | None, request_timeout: float = REQUEST_TIMEOUT
) -> KubeClient:
    """A client for the chosen context; a missing cluster names the offline alternative."""
    try:
        config = load_kubeconfig(kubeconfig, context)
    except KubeconfigError as exc:
        raise KubeconfigError(f"no cluster to plan against: {exc}; {OFFLINE_HINT}") from exc
    return KubeClient(config, timeout=request_timeout, on_retry=_retry_line)


def _retry_line(message: str) -> None:
    print(f"retrying: {message}", file=sys.stderr, flush=True)


def stdin_isatty() -> bool:
    """True when a person could answer a question on stdin."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False


def stopped_or_error(err: Console, scrub: Scrubber, exc: AiplaneError, stop: StopSignal) -> int:
    """After SIGINT/SIGTERM the failure is the stop: say so, print the report, exit 130/143."""
    if not stop.requested:
        return print_error(err, scrub, exc)
    from aiplane.commands.interrupt import Interrupted

    stopped = Interrupted(stop.signum, getattr(exc, "report", None))
    print_error(err, scrub, stopped)
    return stopped.exit_code


def check_access(
    client: KubeClient,
    rendered: Rendered,
    purpose: Literal["plan", "apply"],
    file: str,
    conf: Settings,
) -> None:
    """Every missing permission at once, before the first write (``access``)."""
    from aiplane.providers.kubernetes.access import check_access as check

    check(client, rendered.manifests, purpose, system_namespace=conf.system_namespace,
          stack_file=file)  # fmt: skip


def served_only(client: KubeClient, rendered: Rendered) -> tuple[Rendered, list[str]]:
    """Leave out the objects marked only-if-served whose kind the cluster does not serve."""
    from aiplane.providers.kubernetes.optional import served_only as keep

    manifests, notes = keep(client, rendered.manifests)
    kept = {id(m) for m in manifests}
    dropped = [m for m in rendered.manifests if id(m) not in kept]
    resources = [r for r in rendered.resources if not any(r.body == m for m in dropped)]
    return replace(rendered, manifests=manifests, resources=resources), notes


def ensure_system_namespace(client: KubeClient, name: str) -> None:
    """Create the namespace of the stacks' state and locks when it is missing."""
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    if client.get("v1", "Namespace", name) is None:
        client.apply(ns, field_manager="aiplane")


def open_run(
    client: KubeClient, stack: str, file: str, scrub: Scrubber, rendered: Sequence[Resource],
    *, saving: bool = False, conf: Settings | None = None, stop: StopSignal | None = None,
    imports: Sequence[str] = (),
) -> Run:  # fmt: skip
    """The providers this stack needs (those it renders for and those its state records), on
    one Kubernetes client, with the ApplySet parent as the state store."""
    from aiplane.plan.engine import Run
    from aiplane.providers.base import ProviderContext
    from aiplane.providers.kubernetes.applyset import ApplySetStore
    from aiplane.providers.registry import make_provider

    conf = conf or Settings.from_env()
    applyset = ApplySet(stack, conf.system_namespace)
    store = ApplySetStore(client, applyset)
    shared: dict[str, object] = {"kube_client": client, "applyset": applyset}
    if stop is not None:  # after SIGINT/SIGTERM providers start no new write
        shared["stop"] = stop.check
    options = {"health_timeout": conf.health_timeout, "imports": tuple(imports)}
    context = ProviderContext(stack, file, scrub, options, shared, saving, rendered)
    names = {"kubernetes", "node-labels", *(r.provider for r in rendered)}
    names |= set(store.read().inventory)
    providers = {n: make_provider(n, context) for n in sorted(names)}
    return Run(stack, file, providers, store, scrub)


def cluster_target(client: KubeClient) -> str:
    """How a plan names the cluster it was made against."""
    return f"context {client.config.context} ({client.config.server})"


def stack_lock(
    client: KubeClient, stack: str, holder: str, purpose: str, ttl: int, err: Console,
    conf: Settings,
) -> StackLock:  # fmt: skip
    """The stack's Lease, reporting waits on ``err``."""
    return StackLock(client, stack, conf.system_namespace, holder, purpose, ttl,
                     say=lambda m: err.print(m, highlight=False, markup=False))  # fmt: skip
