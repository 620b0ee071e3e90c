"""A toy provider over a JSON file: proves the provider protocol is enough for the engine.

The "backend" is one JSON file: ``{"items": {name: {"body", "version", "uid", "owner"}}}``.
Every write bumps ``version``; ``owner`` names the stack that created the item (its inventory
mark, as Kubernetes uses a label). The stack's state lives in a second JSON file.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiplane.errors import AiplaneError
from aiplane.plan.address import Address
from aiplane.plan.decide import decide
from aiplane.plan.diff import diff_values
from aiplane.plan.model import Change, Pin, Stage, digest_of
from aiplane.plan.state import Inventory, StackState
from aiplane.providers.base import Live, Resource, Say

NAME = "toy"


def address(name: str) -> Address:
    """The address of a toy item."""
    return Address(NAME, "item", "", name)


def resource(name: str, **body: Any) -> Resource:
    """A wanted toy item, as a renderer would return it."""
    return Resource(address(name), body, source=f"stack.yaml#L{len(name)}", subject=f"item {name}")


class ToyBackend:
    """The JSON file, read and written whole (small on purpose)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writes = 0

    def items(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        items: dict[str, dict[str, Any]] = json.loads(self.path.read_text())["items"]
        return items

    def put(self, name: str, body: Any, owner: str) -> None:
        items = self.items()
        old = items.get(name)
        version = (old["version"] + 1) if old else 1
        uid = old["uid"] if old else uuid.uuid4().hex
        items[name] = {"body": body, "version": version, "uid": uid, "owner": owner}
        self.path.write_text(json.dumps({"items": items}))
        self.writes += 1

    def delete(self, name: str) -> None:
        items = self.items()
        items.pop(name, None)
        self.path.write_text(json.dumps({"items": items}))
        self.writes += 1


class ToyProvider:
    """Implements ``aiplane.providers.base.Provider`` for the toy backend."""

    name = NAME
    concurrency = 1

    def __init__(self, backend: ToyBackend, stack: str) -> None:
        self.backend = backend
        self.stack = stack
        self.settled: list[tuple[str, ...]] = []

    def prepare(self, resources: Sequence[Resource]) -> list[Resource]:
        return [r.with_digest(digest_of(dict(r.body))) for r in resources]

    def read(self, wanted: Sequence[Resource], recorded: Inventory) -> Live:
        items = self.backend.items()
        mine = set(recorded.get("items", ()))
        live = Live()
        for name, item in items.items():
            if item["owner"] == self.stack or name in mine:
                live.members[address(name)] = item
        for r in wanted:
            if r.address.name in items:
                live.objects[r.address] = items[r.address.name]
        return live

    def plan(self, wanted: Sequence[Resource], live: Live) -> list[Change]:
        out = []
        for r in wanted:
            item = live.objects.get(r.address)
            if item is not None and item["owner"] != self.stack:
                raise AiplaneError(f"{r.address}: belongs to stack {item['owner']}")
            before = item["body"] if item else {}
            immutable = item is not None and before.get("size") != r.body.get("size")
            out.append(
                decide(
                    r.address,
                    wanted=True,
                    exists=item is not None,
                    diffs=diff_values(before, dict(r.body)),
                    replace_reason="size is immutable" if immutable else "",
                    pin=self.pin_now(r.address, live),
                    source=r.source,
                    subject=r.subject,
                    desired_digest=r.digest,
                )
            )
        return out

    def prune(self, wanted: Sequence[Resource], live: Live) -> list[Change]:
        keep = {r.address for r in wanted}
        return [
            decide(
                a, wanted=False, exists=True, pin=self.pin_now(a, live), subject=f"item {a.name}"
            )
            for a in sorted(live.members)
            if a not in keep
        ]

    def pin_now(self, address: Address, live: Live) -> Pin | None:
        item = live.objects.get(address) or live.members.get(address)
        if item is None:
            return None
        return Pin(str(item["version"]), digest_of(item["body"]), item["uid"])

    def stage(self, address: Address) -> Stage:
        return "collections"

    def apply(self, change: Change, wanted: Resource | None, live: Live) -> None:
        if change.action == "delete":
            self.backend.delete(change.address.name)
            return
        assert wanted is not None
        if change.action == "replace":
            self.backend.delete(change.address.name)
        self.backend.put(change.address.name, dict(wanted.body), self.stack)

    def settle(self, changes: Sequence[Change], say: Say, *, health: bool) -> None:
        self.settled.append(tuple(str(c.address) for c in changes))
        say(f"toy: {len(changes)} settled")

    def inventory(self, wanted: Sequence[Resource]) -> Inventory:
        return {"items": tuple(sorted(r.address.name for r in wanted))} if wanted else {}

    def warnings(self, changes: Sequence[Change]) -> list[str]:
        return []

    def close(self) -> None:
        pass


class FileStore:
    """A ``StateStore`` in a JSON file."""

    def __init__(self, path: Path, stack: str) -> None:
        self.path = path
        self.id = f"toy-state-{stack}"

    def read(self) -> StackState:
        if not self.path.exists():
            return StackState()
        doc = json.loads(self.path.read_text())
        inventory = {p: {k: tuple(v) for k, v in lists.items()} for p, lists in doc.items()}
        return StackState(inventory)

    def write(self, state: StackState) -> None:
        doc = {p: {k: list(v) for k, v in lists.items()} for p, lists in state.inventory.items()}
        self.path.write_text(json.dumps(doc))
