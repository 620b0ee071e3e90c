"""``NodeLabels``: labels aiplane sets on existing nodes (it never creates or deletes Nodes).

Labels are applied with server-side apply under the stack's own field manager
(``aiplane-stack-NAME``), so only those labels are touched and several stacks can label one
cluster's nodes: a label another stack set to a different value is a plan error naming that
stack, never silently overwritten. A label dropped from the stack is released (removed) by the
next apply; on a node no object of the stack selects any more (a pool or the whole stack
removed), the stack's labels are released by a change of their own. A change of
``nvidia.com/mig.config`` re-partitions the GPUs: that change (and its release) is
node-disruptive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from aiplane.errors import AiplaneError
from aiplane.plan.address import Address
from aiplane.plan.decide import decide
from aiplane.plan.diff import FieldDiff
from aiplane.plan.model import Action, Change, Disruption, DriftNote, Pin, Stage
from aiplane.plan.state import Inventory
from aiplane.providers.base import Live, PlanError, ProviderContext, Resource, Say, plan_each
from aiplane.providers.kubernetes.client import KubeClient
from aiplane.providers.kubernetes.desired import without_source
from aiplane.providers.kubernetes.drift import flatten_fields
from aiplane.providers.kubernetes.health import wait_healthy
from aiplane.providers.kubernetes.kinds import MIG_CONFIG, MIG_STATE
from aiplane.providers.kubernetes.labels import NODE_LABELS_API, NODE_LABELS_KIND, SUBJECT_ANN
from aiplane.providers.kubernetes.objects import (
    NODE_LABELS_PROVIDER,
    Manifest,
    ObjectRef,
    annotation,
    desired_digest,
    digest,
    ref_of,
)
from aiplane.providers.kubernetes.ownership import (
    STACK_MANAGER_PREFIX,
    manager_name,
    stack_field_manager,
)
from aiplane.secrets import Scrubber

LABELLED = "labelled"  # inventory: this stack set labels on nodes
RELEASE_PREFIX = "node-"  # NodeLabels/node-NAME: a release of this stack's labels on node NAME


def selector_of(body: Mapping[str, Any]) -> str:
    """``spec.nodeSelector`` (plain map or ``matchLabels``) as a label-selector string."""
    sel = (body.get("spec") or {}).get("nodeSelector") or {}
    if isinstance(sel, dict) and "matchLabels" in sel:
        sel = sel["matchLabels"] or {}
    return ",".join(f"{k}={v}" for k, v in sorted(sel.items()))


def selector_map(body: Mapping[str, Any]) -> dict[str, str]:
    """``spec.nodeSelector`` as a plain map (equality selectors)."""
    sel = (body.get("spec") or {}).get("nodeSelector") or {}
    if isinstance(sel, dict) and "matchLabels" in sel:
        sel = sel["matchLabels"] or {}
    return {str(k): str(v) for k, v in sel.items()}


def matches(node: Mapping[str, Any], selector: Mapping[str, str]) -> bool:
    labels = (node.get("metadata") or {}).get("labels") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def wanted_labels(body: Mapping[str, Any]) -> dict[str, str]:
    labels = (body.get("spec") or {}).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


def label_owners(node: Mapping[str, Any]) -> dict[str, set[str]]:
    """field manager -> the label keys it applied on ``node``."""
    out: dict[str, set[str]] = {}
    for entry in (node.get("metadata") or {}).get("managedFields") or []:
        if entry.get("operation") == "Apply" and entry.get("manager"):
            paths = flatten_fields(entry.get("fieldsV1") or {})
            prefix = "metadata.labels."
            keys = {p[len(prefix) :] for p in paths if p.startswith(prefix)}
            out.setdefault(str(entry["manager"]), set()).update(keys)
    return out


def owned_labels(node: Mapping[str, Any], manager: str) -> set[str]:
    """Label keys ``manager`` applied on ``node``."""
    return label_owners(node).get(manager, set())


def conflicts(node: Mapping[str, Any], wanted: Mapping[str, str], manager: str) -> list[str]:
    """Labels another stack set on ``node`` to a value other than ``wanted``'s."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    name = node["metadata"]["name"]
    out = []
    for other, keys in sorted(label_owners(node).items()):
        if other == manager or not other.startswith(STACK_MANAGER_PREFIX):
            continue
        for key in sorted(keys & set(wanted)):
            if labels.get(key) != wanted[key]:
                out.append(
                    f"label {key} on node {name} is set to {labels.get(key)} by "
                    f"{manager_name(other)}"
                )
    return out


def list_nodes(client: KubeClient, body: Mapping[str, Any]) -> list[Manifest]:
    selector = selector_of(body)
    if not selector:
        return []
    return client.list("v1", "Node", label_selector=selector)


def fingerprint(nodes: list[Manifest], keys: set[str]) -> str:
    """What the plan pins for node labels: node names and the values of the labels involved."""
    state = {
        n["metadata"]["name"]: {k: (n["metadata"].get("labels") or {}).get(k) for k in sorted(keys)}
        for n in nodes
    }
    return digest(state)


def node_diffs(node: Mapping[str, Any], wanted: Mapping[str, str], manager: str) -> list[FieldDiff]:
    labels = (node.get("metadata") or {}).get("labels") or {}
    name = node["metadata"]["name"]
    out = [
        FieldDiff(f"nodes[{name}].labels.{k}", labels.get(k), v)
        for k, v in sorted(wanted.items())
        if labels.get(k) != v
    ]
    for k in sorted(owned_labels(node, manager) - set(wanted)):
        if k in labels:
            out.append(FieldDiff(f"nodes[{name}].labels.{k}", labels[k], None))
    return out


def plan_labels(address: Address, r: Resource, nodes: list[Manifest], manager: str) -> Change:
    """The change of one ``NodeLabels`` object against the nodes its selector matches now."""
    wanted = wanted_labels(r.body)
    clashes = [c for n in nodes for c in conflicts(n, wanted, manager)]
    if clashes:
        raise PlanError("; ".join(clashes[:5]) + (f" (and {len(clashes) - 5} more)"
                        if len(clashes) > 5 else ""))  # fmt: skip
    pin = Pin(None, fingerprint(nodes, _keys(nodes, wanted, manager)), None)
    seen: dict[str, Any] = {"wanted": True, "exists": True, "pin": pin, "source": r.source,
                            "subject": r.subject, "desired_digest": r.digest,
                            "classify": classify}  # fmt: skip
    if not nodes:
        reason = f"no node matches nodeSelector {selector_of(r.body) or '(empty)'}"
        return decide(address, reason=reason, **seen)
    diffs = tuple(x for n in nodes for x in node_diffs(n, wanted, manager))
    notes = tuple(
        DriftNote(f"nodes[{n['metadata']['name']}].labels.{MIG_STATE}", "NVIDIA MIG manager")
        for n in nodes
        if (n["metadata"].get("labels") or {}).get(MIG_STATE) not in (None, "success")
    )
    if not diffs:
        return decide(address, expected_drift=notes, **seen)
    changed = list_node_names(diffs)
    mig = [x for x in diffs if x.path.endswith(MIG_CONFIG)]
    reason = f"labels change on {len(changed)} node(s): {', '.join(changed[:5])}"
    if mig:
        was = mig[0].before or "unset"
        reason = f"MIG re-partition ({was} -> {mig[0].after}) on {len(changed)} node(s)"
    return decide(address, diffs=diffs, expected_drift=notes, reason=reason, **seen)


def classify(action: Action, diffs: Sequence[FieldDiff]) -> Disruption:
    """Labelling nodes is in place, unless it changes the MIG layout (the GPUs are drained and
    re-partitioned: node-disruptive)."""
    if action not in ("create", "update", "delete"):
        return "none"
    return "node-disruptive" if any(d.path.endswith(MIG_CONFIG) for d in diffs) else "in-place"


def _keys(nodes: list[Manifest], wanted: Mapping[str, str], manager: str) -> set[str]:
    owned = (owned_labels(n, manager) for n in nodes)
    return set(wanted).union(*owned) if nodes else set(wanted)


def apply_node_labels(client: KubeClient, body: Mapping[str, Any], manager: str) -> list[str]:
    """Apply the labels to every matching node; return the node names. Forced: a value another
    stack set was refused at plan time, so what is left to take over is a hand-set label (the
    plan showed its old value) or one an earlier aiplane version set."""
    names = [n["metadata"]["name"] for n in list_nodes(client, body)]
    labels = wanted_labels(body)
    for name in names:
        patch = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}
        client.apply(patch, field_manager=manager, force=True)
    return names


def release_address(node: str) -> Address:
    """The address of releasing this stack's labels on ``node``."""
    return ObjectRef(NODE_LABELS_API, NODE_LABELS_KIND, "", f"{RELEASE_PREFIX}{node}").address


def release_change(address: Address, node: Mapping[str, Any], manager: str) -> Change:
    """Give back the labels this stack set on a node none of its objects selects any more."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    name = node["metadata"]["name"]
    keys = sorted(k for k in owned_labels(node, manager) if k in labels)
    diffs = tuple(FieldDiff(f"nodes[{name}].labels.{k}", labels[k], None) for k in keys)
    pin = Pin(None, fingerprint([dict(node)], set(keys)), None)
    change = decide(address, wanted=False, exists=True, pin=pin, classify=classify,
                    note=f"; releases this stack's labels {', '.join(keys)} on node {name}")  # fmt: skip
    return replace(change, diffs=diffs, disruption=classify("delete", diffs))


def list_node_names(diffs: Sequence[FieldDiff]) -> list[str]:
    """Node names mentioned by NodeLabels diff paths (``nodes[NAME].labels...``)."""
    names = (d.path[len("nodes[") :].split("]", 1)[0] for d in diffs if d.path.startswith("nodes["))
    return list(dict.fromkeys(names))


def prepared(resources: Sequence[Resource]) -> list[Resource]:
    """Check identity; drop the source annotation (it stays in the plan); set digests."""
    out, seen = [], set()
    for r in resources:
        body = without_source(dict(r.body))
        ref = ref_of(body)
        if not ref.name:
            raise AiplaneError(f"{ref}: object needs apiVersion, kind and metadata.name")
        if ref.address in seen:
            raise AiplaneError(f"{ref}: rendered twice")
        seen.add(ref.address)
        subject = r.subject or annotation(body, SUBJECT_ANN)
        out.append(Resource(ref.address, body, r.source, subject, desired_digest(body)))
    return out


def make_provider(context: ProviderContext) -> NodeLabelsProvider:
    """Registry factory: labels nodes through the command's Kubernetes client."""
    return NodeLabelsProvider(
        context.shared["kube_client"],
        scrubber=context.scrubber,
        stack=context.stack,
        stack_file=context.stack_file,
        health_timeout=float(context.options.get("health_timeout", 0)),
    )


class NodeLabelsProvider:
    """``NodeLabels`` objects: read the matching nodes, plan label changes, label them."""

    name = NODE_LABELS_PROVIDER

    def __init__(
        self, client: KubeClient, *, scrubber: Scrubber, stack: str, stack_file: str = "",
        health_timeout: float = 0,
    ) -> None:  # fmt: skip
        self.client = client
        self.manager = stack_field_manager(stack)
        self.health_timeout = health_timeout
        self.scrub = scrubber
        self.stack_file = stack_file
        self.concurrency = client.concurrency
        self.labels: dict[Address, dict[str, str]] = {}  # wanted labels per object

    def prepare(self, resources: Sequence[Resource]) -> list[Resource]:
        """Check identities, set digests, remember the wanted labels."""
        out = prepared(resources)
        self.labels = {r.address: wanted_labels(r.body) for r in out}
        return out

    def read(self, wanted: Sequence[Resource], recorded: Inventory) -> Live:
        """One LIST of the nodes: those each object's selector matches, and as members the
        nodes that carry this stack's labels but that no object selects any more."""
        if not wanted and not recorded.get(LABELLED):
            return Live()  # never labelled nodes: no cluster-wide read (a namespace admin's run)
        nodes = self.client.list("v1", "Node", label_selector="")
        live = Live()
        for r in wanted:
            selector = selector_map(r.body)
            live.objects[r.address] = [n for n in nodes if matches(n, selector)]
        selected = {n["metadata"]["name"] for found in live.objects.values() for n in found}
        for n in nodes:
            name = n["metadata"]["name"]
            if name not in selected and owned_labels(n, self.manager):
                live.members[release_address(name)] = [n]
        return live

    def plan(self, wanted: Sequence[Resource], live: Live) -> list[Change]:
        """One change per object (no requests: ``read`` listed the nodes)."""
        return plan_each(
            wanted,
            lambda r: plan_labels(r.address, r, live.objects.get(r.address, []), self.manager),
            concurrency=1,
            scrub=self.scrub,
            stack_file=self.stack_file,
        )

    def prune(self, wanted: Sequence[Resource], live: Live) -> list[Change]:
        """Releases of this stack's labels on nodes no object selects any more (nodes
        themselves are never deleted)."""
        return [
            release_change(address, nodes[0], self.manager)
            for address, nodes in sorted(live.members.items())
            if owned_labels(nodes[0], self.manager)
        ]

    def pin_now(self, address: Address, live: Live) -> Pin | None:
        """Node names and the values of the labels involved, as ``plan_labels`` pins them."""
        nodes = live.objects.get(address)
        if nodes is None:
            released = live.members.get(address)
            if not released:
                return None
            keys = set(owned_labels(released[0], self.manager))
            labels = released[0]["metadata"].get("labels") or {}
            return Pin(None, fingerprint(released, {k for k in keys if k in labels}), None)
        wanted = self.labels.get(address, {})
        return Pin(None, fingerprint(nodes, _keys(nodes, wanted, self.manager)), None)

    def stage(self, address: Address) -> Stage:
        """Node labels are cluster configuration."""
        return "cluster-config"

    def apply(self, change: Change, wanted: Resource | None, live: Live) -> None:
        """Label every matching node (server-side apply under the node-labels field manager)."""
        if wanted is not None:
            apply_node_labels(self.client, wanted.body, self.manager)
            return
        if change.action == "delete":  # release: apply no labels, so the stack's are removed
            node = change.address.name[len(RELEASE_PREFIX) :]
            patch = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}
            self.client.apply(patch, field_manager=self.manager, force=False)

    def settle(self, changes: Sequence[Change], say: Say, *, health: bool) -> None:
        """Wait for the MIG manager on nodes whose MIG layout changed."""
        if not health:
            return
        nodes = [
            ObjectRef("v1", "Node", "", n)
            for c in changes
            if any(d.path.endswith(MIG_CONFIG) for d in c.diffs)
            for n in list_node_names(c.diffs)
        ]
        wait_healthy(self.client, nodes, say, cap=self.health_timeout)

    def inventory(self, wanted: Sequence[Resource]) -> Inventory:
        """Whether the stack labels nodes (the objects are found by their selectors; a stack
        that stops labelling must still read the nodes once, to release its labels)."""
        return {LABELLED: ("yes",)} if wanted else {}

    def warnings(self, changes: Sequence[Change]) -> list[str]:
        """Objects whose selector matches no node."""
        return [
            f"{c.address}: {c.reason}"
            for c in changes
            if c.address.provider == self.name
            and c.action == "noop"
            and c.reason.startswith("no node matches")
        ]

    def close(self) -> None:
        """The client is shared; the command closes it."""
