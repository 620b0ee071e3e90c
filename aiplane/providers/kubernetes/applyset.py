"""The stack's inventory, kept as a kubectl ApplySet (KEP-3659).

The parent is a ConfigMap ``applyset-<stack>`` in the system namespace; members carry
``applyset.k8s.io/part-of=<id>``. A set whose ``tooling`` label names another tool is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from aiplane import __version__
from aiplane.errors import AiplaneError
from aiplane.gpu.capacity import Capacity
from aiplane.plan.state import Inventory, StackState

if TYPE_CHECKING:
    from aiplane.providers.kubernetes.client import KubeClient
from aiplane.providers.kubernetes.labels import MANAGED_BY, PART_OF, STACK_LABEL

ID_LABEL = "applyset.k8s.io/id"
TOOLING = "applyset.k8s.io/tooling"
GROUP_KINDS = "applyset.k8s.io/contains-group-kinds"
NAMESPACES = "applyset.k8s.io/additional-namespaces"
TOOL_NAME = "aiplane"
GPU_CAPACITY = "aiplane.dev/gpu-capacity"  # JSON of the last applied plan's GPU capacity
INVENTORY = "aiplane.dev/inventory"  # JSON: other providers' inventories
CONFIGURED_ANN = "aiplane.dev/configured"  # JSON: objects whose fields only the stack owns
KUBERNETES = "kubernetes"


def applyset_id(name: str, namespace: str, kind: str, group: str) -> str:
    """KEP-3659: ``applyset-<base64url(sha256(name.namespace.kind.group)), no padding>-v1``."""
    raw = ".".join([name, namespace, kind, group]).encode()
    encoded = base64.urlsafe_b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")
    return f"applyset-{encoded}-v1"


class ForeignApplySet(AiplaneError):
    """The parent exists but belongs to another tool."""


@dataclass(frozen=True)
class ApplySet:
    """The parent object of one stack's ApplySet."""

    stack: str
    namespace: str

    @property
    def name(self) -> str:
        return f"applyset-{self.stack}"

    @cached_property
    def id(self) -> str:
        return applyset_id(self.name, self.namespace, "ConfigMap", "")

    @cached_property
    def selector(self) -> str:
        return f"{PART_OF}={self.id}"

    def member_labels(self) -> dict[str, str]:
        return {PART_OF: self.id}

    def parent(
        self,
        group_kinds: Iterable[str],
        namespaces: Iterable[str],
        capacity: str | None = None,
        inventory: str | None = None,
        configured: Iterable[str] = (),
    ) -> dict[str, Any]:
        """The parent manifest listing the group-kinds and namespaces its members use, and the
        applied stack's GPU capacity (so the next plan can show the GPU delta)."""
        extra = sorted({ns for ns in namespaces if ns and ns != self.namespace})
        annotations = {
            TOOLING: f"{TOOL_NAME}/v{__version__}",
            GROUP_KINDS: ",".join(sorted(set(group_kinds))),
            NAMESPACES: ",".join(extra),
        }
        if capacity is not None:
            annotations[GPU_CAPACITY] = capacity
        if inventory is not None:
            annotations[INVENTORY] = inventory
        if configured:
            annotations[CONFIGURED_ANN] = json.dumps(sorted(set(configured)))
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {
                    ID_LABEL: self.id,
                    MANAGED_BY: TOOL_NAME,
                    STACK_LABEL: self.stack,
                },
                "annotations": annotations,
            },
        }

    def check_owner(self, live_parent: Mapping[str, Any] | None) -> None:
        """Refuse a parent that another tool (or nothing recognisable) owns."""
        if live_parent is None:
            return
        meta = live_parent.get("metadata") or {}
        tooling = str((meta.get("annotations") or {}).get(TOOLING, "")) or str(
            (meta.get("labels") or {}).get(TOOLING, "")
        )
        where = f"ConfigMap/{self.namespace}/{self.name}"
        if not tooling.startswith(f"{TOOL_NAME}/"):
            raise ForeignApplySet(
                f"{where}: ApplySet parent is owned by '{tooling or 'unknown tooling'}', "
                "not aiplane; refusing to touch it"
            )
        if (meta.get("labels") or {}).get(ID_LABEL) != self.id:
            raise ForeignApplySet(f"{where}: ApplySet id label does not match {self.id}")


def recorded_capacity(live_parent: Mapping[str, Any] | None) -> Capacity | None:
    """The GPU capacity the last apply recorded on the parent, if any (ignored when unreadable:
    it only feeds the plan's GPU delta)."""
    anns = ((live_parent or {}).get("metadata") or {}).get("annotations") or {}
    try:
        return Capacity.from_json(json.loads(anns[GPU_CAPACITY]))
    except (KeyError, ValueError, TypeError):
        return None


def recorded_group_kinds(live_parent: Mapping[str, Any] | None) -> set[str]:
    """The group-kinds a live parent says its members use."""
    anns = ((live_parent or {}).get("metadata") or {}).get("annotations") or {}
    return {gk for gk in str(anns.get(GROUP_KINDS, "")).split(",") if gk}


class ApplySetStore:
    """The stack's state (``aiplane.plan.state``) kept on the ApplySet parent.

    The Kubernetes inventory is the parent's own ApplySet annotations (group-kinds, additional
    namespaces); other providers' inventories go, as JSON, in ``aiplane.dev/inventory``; the GPU
    capacity in ``aiplane.dev/gpu-capacity``.
    """

    def __init__(self, client: KubeClient, applyset: ApplySet) -> None:
        self.client = client
        self.applyset = applyset

    @property
    def id(self) -> str:
        """The ApplySet id."""
        return self.applyset.id

    def read(self) -> StackState:
        """The recorded state; a parent that another tool owns is refused."""
        parent = self.client.get("v1", "ConfigMap", self.applyset.name, self.applyset.namespace)
        self.applyset.check_owner(parent)
        kinds = tuple(sorted(recorded_group_kinds(parent)))
        inventory = recorded_inventory(parent)
        if kinds:
            # the namespaces too: reads stay inside them (LIST per namespace, never cluster-wide)
            anns = ((parent or {}).get("metadata") or {}).get("annotations") or {}
            namespaces = tuple(sorted(ns for ns in str(anns.get(NAMESPACES, "")).split(",") if ns))
            inventory[KUBERNETES] = {"group-kinds": kinds, "namespaces": namespaces}
        configured = recorded_configured(parent)
        if configured:
            inventory[KUBERNETES] = {**inventory.get(KUBERNETES, {}), "configured": configured}
        return StackState(inventory, recorded_capacity(parent))

    def write(self, state: StackState) -> None:
        """Server-side apply the parent with ``state``."""
        mine = state.inventory.get(KUBERNETES, {})
        others = {p: dict(inv) for p, inv in state.inventory.items() if p != KUBERNETES}
        capacity = state.capacity
        parent = self.applyset.parent(
            mine.get("group-kinds", ()),
            mine.get("namespaces", ()),
            json.dumps(capacity.to_json(), sort_keys=True) if capacity else None,
            json.dumps(others, sort_keys=True) if others else None,
            mine.get("configured", ()),
        )
        self.client.apply(parent, field_manager=TOOL_NAME)


def recorded_configured(live_parent: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The configured objects (``apiVersion|kind|namespace|name``) recorded on the parent."""
    anns = ((live_parent or {}).get("metadata") or {}).get("annotations") or {}
    try:
        doc = json.loads(anns[CONFIGURED_ANN])
    except (KeyError, ValueError, TypeError):
        return ()
    return tuple(str(x) for x in doc) if isinstance(doc, list) else ()


def recorded_inventory(live_parent: Mapping[str, Any] | None) -> dict[str, Inventory]:
    """Other providers' inventories recorded on the parent (empty when none or unreadable)."""
    anns = ((live_parent or {}).get("metadata") or {}).get("annotations") or {}
    try:
        doc = json.loads(anns[INVENTORY])
    except (KeyError, ValueError, TypeError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return {
        str(p): {str(k): tuple(str(x) for x in v) for k, v in inv.items() if isinstance(v, list)}
        for p, inv in doc.items()
        if isinstance(inv, dict)
    }
