"""``aiplane destroy FILE``: delete everything the stack owns, shown first like any plan.

Only ApplySet members are deleted (by uid, in reverse stage order: routes before the workloads
they point at, CRDs last); the deletions are gated by ``--allow-delete`` and done under the stack
lock; the labels the stack set on nodes are released; the ApplySet parent goes last, so a run
stopped half-way can be resumed by running destroy again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiplane.cluster import nodes
from aiplane.cluster.applyset import ApplySet, system_namespace
from aiplane.cluster.client import KubeClient
from aiplane.cluster.console import console
from aiplane.cluster.masking import Scrubber
from aiplane.cluster.progress import Progress
from aiplane.errors import AiplaneError

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
    from aiplane.cluster import commands
    from aiplane.cluster.interrupt import Interrupted, StopSignal

    err = console(stderr=True)
    scrub = Scrubber()
    try:
        if not yes and not commands._stdin_isatty():
            err.print("destroy: stdin is not a terminal, so nobody can confirm; pass --yes",
                      style="bold red")  # fmt: skip
            return EXIT_ERROR
        stack, manifests = commands.render_file(file)
        labels = [m for m in manifests if m.get("kind") == "NodeLabels"]
        with StopSignal() as stop, commands.connect(kubeconfig, context,
                                                    request_timeout) as client:  # fmt: skip
            commands._check_access(client, manifests, "apply", file)
            return _destroy(client, stack, file, labels, stop=stop, yes=yes,
                            allow_delete=allow_delete, lock_timeout=lock_timeout,
                            scrub=scrub)  # fmt: skip
    except Interrupted as exc:
        commands._err(err, scrub, exc)
        return exc.exit_code
    except AiplaneError as exc:
        return commands._err(err, scrub, exc)


def _destroy(
    client: KubeClient,
    stack: str,
    file: str,
    labels: Sequence[Mapping[str, Any]],
    *,
    stop: Any,
    yes: bool,
    allow_delete: bool,
    lock_timeout: float,
    scrub: Scrubber,
) -> int:
    from aiplane.cluster import commands
    from aiplane.cluster.apply import Applier
    from aiplane.cluster.lock import default_holder
    from aiplane.cluster.planner import ClusterPlanner

    err = console(stderr=True)
    applyset = ApplySet(stack, system_namespace())
    parent = client.get("v1", "ConfigMap", applyset.name, applyset.namespace)
    applyset.check_owner(parent)
    planner = ClusterPlanner(client, stack=stack, stack_file=file, scrubber=scrub,
                             applyset=applyset)  # fmt: skip
    lock = commands._lock(client, stack, default_holder(), f"destroy {file}", 600, err)
    if parent is not None:
        lock.acquire(lock_timeout)
    try:
        plan, desired = planner.plan([])  # nothing desired: every member is a deletion
        releases = _label_releases(client, labels)
        commands.show(plan, plan.gates(allow_disruption=True, allow_delete=allow_delete),
                      "human", scrub)  # fmt: skip
        out = console()
        for node, keys in releases.items():
            out.print(f"  - Node/{node}: labels {', '.join(sorted(keys))} released")
        if parent is None and not releases:
            out.print(f"stack {stack}: nothing to destroy (no ApplySet parent)")
            return EXIT_OK
        if plan.has_changes and not allow_delete:
            err.print("destroy: refused; pass --allow-delete; nothing was changed",
                      style="bold red")  # fmt: skip
            return EXIT_BLOCKED
        if not commands._confirm(yes, err):
            return EXIT_ERROR
        with Progress(err) as say:
            report = Applier(planner, plan, desired, say=say, wait=False, stop=stop).run()
        for node, keys in releases.items():
            stop.check(report)
            _release(client, node, keys)
        stop.check(report)
        if parent is not None:
            uid = parent["metadata"].get("uid")
            client.delete("v1", "ConfigMap", applyset.name, applyset.namespace, uid=uid)
        out.print(f"stack {stack}: destroyed: {len(report.pruned)} deleted, labels released on "
                  f"{len(releases)} node(s).")  # fmt: skip
        return EXIT_OK
    finally:
        lock.release()


def _label_releases(client: KubeClient, bodies: Sequence[Mapping[str, Any]]) -> dict[str, set[str]]:
    """Per node, the label keys this stack's NodeLabels set and the node-label manager owns."""
    out: dict[str, set[str]] = {}
    for body in bodies:
        keys = set(nodes.wanted_labels(body))
        for node in nodes.list_nodes(client, body):
            owned = nodes.owned_labels(node) & keys
            if owned:
                out.setdefault(node["metadata"]["name"], set()).update(owned)
    return out


def _release(client: KubeClient, name: str, keys: set[str]) -> None:
    """Server-side apply the labels the manager keeps; the released ones are removed."""
    node = client.get("v1", "Node", name)
    if node is None:
        return
    current = node["metadata"].get("labels") or {}
    keep = {k: current[k] for k in nodes.owned_labels(node) - keys if k in current}
    patch = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": keep}}
    client.apply(patch, field_manager=nodes.NODE_MANAGER, force=True)
