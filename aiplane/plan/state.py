"""The stack's state: what it owns in each provider and the GPU capacity it last applied.

One record per stack (today the ApplySet parent ConfigMap in the system namespace, written by the
Kubernetes provider's ``ApplySetStore``). Prune, destroy and drift read it per provider: a provider
is asked to read its recorded inventory even when the stack no longer renders anything for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from aiplane.gpu.capacity import Capacity

Inventory = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class StackState:
    """Per provider name, its inventory (named lists it wrote); and the last GPU capacity."""

    inventory: Mapping[str, Inventory] = field(default_factory=dict)
    capacity: Capacity | None = None

    def merged(self, other: StackState) -> StackState:
        """Both inventories together (written before an apply, so an interrupted apply can
        still find and prune what it created); ``other``'s capacity."""
        out: dict[str, dict[str, tuple[str, ...]]] = {}
        for source in (self.inventory, other.inventory):
            for provider, lists in source.items():
                mine = out.setdefault(provider, {})
                for key, values in lists.items():
                    mine[key] = tuple(sorted({*mine.get(key, ()), *values}))
        return StackState(out, other.capacity)


class StateStore(Protocol):
    """Where a stack's state lives."""

    @property
    def id(self) -> str:
        """A stable id of this stack's record (plans pin it: ``Plan.state_id``)."""
        ...

    def read(self) -> StackState:
        """The recorded state (empty when none; refuse a record another tool owns)."""
        ...

    def write(self, state: StackState) -> None:
        """Record ``state``."""
        ...
