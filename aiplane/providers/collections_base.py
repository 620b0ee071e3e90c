"""The part of the Provider protocol both collection providers (pgvector, Chroma) share.

Each backend supplies a ``CollectionBackend``: read a store's collections in bulk, classify one
collection (``CollectionChange``), apply one change. This class turns that into the plan core's
``Provider``: addresses ``(provider, "collection", <store>, <collection>)``, ``decide`` for the
action, pins from the hash of the live definition, the "collections" stage, and the inventory.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from aiplane.errors import AiplaneError, Diagnostic
from aiplane.plan.address import Address
from aiplane.plan.decide import decide
from aiplane.plan.diff import diff_values
from aiplane.plan.model import Action, Change, Disruption, Pin, Stage, digest_of
from aiplane.plan.state import Inventory
from aiplane.providers.base import Live, PlanError, ProviderContext, Resource, Say
from aiplane.providers.collection_def import CollectionDef
from aiplane.providers.credentials import SecretReader, StoreError
from aiplane.providers.vector_change import CollectionChange, Conflict, pin_of

Table = dict[str, Any]


class CollectionBackend(Protocol):
    """What one vector database must provide."""

    def read_store(self, wants: Sequence[CollectionDef]) -> dict[str, Table]:
        """Live definitions of one store keyed by collection name: the wanted ones found and
        every one this stack owns there (each with ``owner`` = {"stack", "collection"})."""
        ...

    def classify(self, want: CollectionDef, live: Table | None) -> CollectionChange | None:
        """The change (None: none), raising ``Conflict`` for what the stack does not own."""
        ...

    def deletion(self, store: str, live: Table) -> CollectionChange:
        """Deleting an owned collection that left the stack."""
        ...

    def view(self, definition: Mapping[str, Any] | None) -> dict[str, Any]:
        """The comparable fields of a desired or live definition, for field diffs."""
        ...

    def apply(
        self, change: CollectionChange, want: CollectionDef | None, store: CollectionDef
    ) -> None:
        """Carry out one change."""
        ...


def secret_reader(context: ProviderContext, namespace: str) -> SecretReader | None:
    """Reads ``secretRef`` credentials from the stack namespace when a cluster is at hand."""
    client = context.shared.get("kube_client")
    if client is None:
        return None

    def read(name: str, key: str) -> str:
        import base64

        secret = client.get("v1", "Secret", name, namespace)
        data = (secret or {}).get("data") or {}
        if key not in data:
            raise KeyError(key)
        value = base64.b64decode(data[key]).decode()
        context.scrubber.learn([value])
        return value

    return read


def stderr_progress(scrub: Callable[[str], str]) -> Callable[[str], None]:
    def say(text: str) -> None:
        print(scrub(text), file=sys.stderr, flush=True)

    return say


class CollectionProvider:
    """The Provider protocol over a ``CollectionBackend`` (see the module docstring)."""

    concurrency = 4

    def __init__(self, name: str, context: ProviderContext, backend: CollectionBackend) -> None:
        self.name = name
        self.context = context
        self.backend = backend
        self._refusals: dict[Address, str] = {}

    def prepare(self, resources: Sequence[Resource]) -> list[Resource]:
        return [r.with_digest(digest_of(dict(r.body))) for r in resources]

    def _defs(self, wanted: Sequence[Resource]) -> list[CollectionDef]:
        return [CollectionDef.from_body(r.body) for r in wanted]

    def read(self, wanted: Sequence[Resource], recorded: Inventory) -> Live:
        by_store: dict[str, list[CollectionDef]] = {}
        for want in self._defs(wanted):
            by_store.setdefault(want.store, []).append(want)
        live = Live()
        if not by_store:
            return live
        with ThreadPoolExecutor(max_workers=min(8, len(by_store))) as pool:
            tables = dict(
                zip(by_store, pool.map(self.backend.read_store, by_store.values()), strict=True)
            )
        for store, found in tables.items():
            wanted_names = {w.name for w in by_store[store]}
            for name, table in found.items():
                address = Address(self.name, "collection", store, name)
                if name in wanted_names:
                    live.objects[address] = table
                owner = table.get("owner") or {}
                if owner.get("stack") == self.context.stack:
                    live.members[address] = table
        return live

    def plan(self, wanted: Sequence[Resource], live: Live) -> list[Change]:
        out: list[Change] = []
        problems: list[Diagnostic] = []
        for r in wanted:
            want = CollectionDef.from_body(r.body)
            table = live.objects.get(r.address)
            try:
                change = self.backend.classify(want, table)
            except Conflict as exc:
                w = want.where
                problems.append(Diagnostic(str(exc), w.file, w.line, w.column, w.path))
                continue
            out.append(self._decide(r, want, table, change))
        if problems:
            raise PlanError(f"{len(problems)} collection(s) cannot be planned", problems)
        return out

    def _decide(
        self, r: Resource, want: CollectionDef, table: Table | None, change: CollectionChange | None
    ) -> Change:
        diffs = diff_values(self.backend.view(table), self.backend.view(want.desired))
        # Columns the stack does not declare are left alone, so they are not a change.
        diffs = [d for d in diffs if not (d.path.startswith("payload.") and d.after is None)]
        if change is None:
            diffs = []
        replace_reason = change.summary() if change and change.action == "replace" else ""
        if change is not None and change.refused:
            self._refusals[r.address] = f"{r.address}: {change.refused}"
        reason = change.summary() if change and change.action != "replace" else ""
        return decide(
            r.address,
            wanted=True,
            exists=table is not None,
            diffs=diffs,
            replace_reason=replace_reason,
            reason=reason,
            pin=self.pin_now(r.address, Live(objects={r.address: table} if table else {})),
            classify=_disruption,
            source=r.source,
            subject=r.subject,
            desired_digest=r.digest,
        )

    def prune(self, wanted: Sequence[Resource], live: Live) -> list[Change]:
        keep = {r.address for r in wanted}
        out = []
        for address in sorted(live.members):
            if address in keep:
                continue
            table = live.members[address]
            deletion = self.backend.deletion(address.scope, table)
            out.append(
                decide(
                    address,
                    wanted=False,
                    exists=True,
                    note=f" ({deletion.summary()})",
                    pin=self.pin_now(address, live),
                    classify=_disruption,
                    subject=f"collection {address.name}",
                )
            )
        return out

    def pin_now(self, address: Address, live: Live) -> Pin | None:
        table = live.objects.get(address) or live.members.get(address)
        if table is None:
            return None
        digest = pin_of(table)
        return Pin(version=digest, fingerprint=digest)

    def stage(self, address: Address) -> Stage:
        return "collections"

    def apply(self, change: Change, wanted: Resource | None, live: Live) -> None:
        if change.action == "delete":
            table = live.members.get(change.address)
            if table is None:
                return  # already gone: a rerun converges
            deletion = self.backend.deletion(change.address.scope, table)
            store = self._any_def_of(change.address.scope)
            self.backend.apply(deletion, None, store)
            return
        assert wanted is not None
        want = CollectionDef.from_body(wanted.body)
        try:
            planned = self.backend.classify(want, live.objects.get(change.address))
        except Conflict as exc:
            raise StoreError(str(exc)) from None
        if planned is not None:
            self.backend.apply(planned, want, want)

    def _any_def_of(self, store: str) -> CollectionDef:
        for r in self.context.rendered:
            if r.provider == self.name and r.address.scope == store:
                return CollectionDef.from_body(r.body)
        raise AiplaneError(f"store {store}: no longer in the stack; cannot connect to prune it")

    def settle(self, changes: Sequence[Change], say: Say, *, health: bool) -> None:
        """A re-index already waited for its build inside ``apply`` (with progress)."""

    def inventory(self, wanted: Sequence[Resource]) -> Inventory:
        names = tuple(sorted(f"{r.address.scope}/{r.address.name}" for r in wanted))
        return {"collections": names} if names else {}

    def warnings(self, changes: Sequence[Change]) -> list[str]:
        """Replacements apply will refuse whatever the flags (vectors held, no recreateOnChange)."""
        return [self._refusals[c.address] for c in changes if c.address in self._refusals]

    def close(self) -> None:
        pass


def _disruption(action: Action, diffs: Sequence[Any]) -> Disruption:
    if action in ("delete", "replace"):
        return "recreate"
    return "in-place" if action == "update" else "none"
