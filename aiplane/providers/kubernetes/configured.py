"""Objects a stack configures but never owns: the GPU Operator's ClusterPolicy, its ConfigMaps.

Several stacks on one GPU cluster (and the tool that installed the operator) share these objects.
Each stack applies only its own fields, under its own field manager and without force, so a field
another manager set differently is a conflict named by its owner (``ownership``). Three rules
make the sharing work (see docs/render.md, "Several stacks on one GPU cluster"):

* Values the schema requires but no stack means to own (``aiplane.dev/create-defaults``) are sent
  only to create the object, under ``DEFAULTS_MANAGER``: a stack joining an operator-installed
  ClusterPolicy never fights its Helm values, and the object stays valid when stacks leave.
* A shared document (the one mig-parted file) is read-merged-written (``shared_doc``).
* A stack that leaves releases its fields (and its document entries); the object is deleted only
  when nobody else holds any part of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from aiplane.plan.address import Address
from aiplane.plan.decide import Classify, decide
from aiplane.plan.diff import FieldDiff, diff_values
from aiplane.plan.model import Change, Pin
from aiplane.providers.base import PlanError
from aiplane.providers.kubernetes.client import ApiError, KubeClient
from aiplane.providers.kubernetes.desired import Desired
from aiplane.providers.kubernetes.diff import mask_diffs
from aiplane.providers.kubernetes.fastpath import owned_fields
from aiplane.providers.kubernetes.labels import PART_OF
from aiplane.providers.kubernetes.objects import Manifest, ObjectRef, label, strip_server_fields
from aiplane.providers.kubernetes.ownership import (
    DEFAULTS_MANAGER,
    STACK_MANAGER_PREFIX,
    conflict_message,
    manager_name,
    other_managers,
    release_body,
)
from aiplane.providers.kubernetes.shared_doc import (
    MergeSpec,
    merge_into,
    release_from,
    removed_entries,
    with_precondition,
)

ONLY_FIELDS = " (this stack's fields only; the object stays another tool's)"


class MustReplace(Exception):
    """An immutable field changes on a configured object that nobody else holds: replace it."""


class ConfiguredObjects:
    """Plan and write one stack's part of shared objects."""

    def __init__(
        self, client: KubeClient, stack: str, manager: str, stack_file: str,
        imports: frozenset[str], applyset_id: str = "",
    ) -> None:  # fmt: skip
        self.client = client
        self.stack = stack
        self.applyset_id = applyset_id
        self.manager = manager
        self.stack_file = stack_file
        self.imports = imports

    # -- plan ----------------------------------------------------------------------------------

    def create_body(self, d: Desired) -> Manifest:
        """What the dry run of a create sends: defaults, this stack's fields, its entries."""
        body = d.create_body
        if d.merge is not None:
            body = merge_into(d.merge, body, None, self.stack).body
        return body

    def plan_update(self, d: Desired, live: Manifest) -> tuple[tuple[FieldDiff, ...], str]:
        """Dry-run this stack's part against the live object: (diffs, note). Raises
        ``PlanError`` naming who set a field (or a document entry) differently."""
        body, force = self._body(d, live)
        try:
            result = self.client.apply(body, field_manager=self.manager, dry_run=True,
                                       force=force)  # fmt: skip
        except ApiError as exc:
            if exc.immutable:
                self.check_replaceable(d, live, str(exc))
            if exc.status != 409:
                raise
            raise PlanError(
                f"{conflict_message(str(exc), exc.causes)} (take the fields over with "
                f"`aiplane import {self.stack_file} {d.ref.address}`)"
            ) from exc
        diffs = mask_diffs(
            d.ref, diff_values(strip_server_fields(live), strip_server_fields(result))
        )
        if owned_fields(live, self.manager, d.ref.api_version) is None:
            # Equal values are no diff, but until this stack applies it holds none of them: a
            # stack that shares the fields must say so, or removing the other stack drops them.
            diffs = (*diffs, FieldDiff("metadata.managedFields", None, self.manager))
        return diffs, self._note(d, live)

    def check_replaceable(self, d: Desired, live: Manifest, reason: str) -> None:
        """An immutable field changes: raise ``MustReplace`` when nobody else holds the object,
        else a ``PlanError`` (replacing it would delete what others rely on)."""
        kept = self.kept_by(live, d.merge)
        if not kept:
            raise MustReplace(reason)
        raise PlanError(
            f"{reason}; it cannot be replaced while {', '.join(kept)} also set(s) it: "
            "agree on the value"
        )

    def _body(self, d: Desired, live: Manifest | None) -> tuple[Manifest, bool]:
        """The body this stack applies over ``live``, and whether it is forced (an import takes
        fields over; a shared document's key is one field, its entries are checked here)."""
        force = str(d.ref.address) in self.imports
        if d.merge is None:
            return d.body, force
        merged = merge_into(d.merge, d.body, live, self.stack, claim_unrecorded=self._legacy(live))
        if merged.conflicts:
            raise PlanError("; ".join(merged.conflicts) + " (give this stack's entry another name)")
        return with_precondition(merged.body, live), True

    def _legacy(self, live: Manifest | None) -> bool:
        """Written whole by this stack's ApplySet (before shared documents recorded entries)."""
        return live is not None and label(live, PART_OF) == self.applyset_id

    def _note(self, d: Desired, live: Manifest) -> str:
        if d.merge is None:
            return ONLY_FIELDS
        others = merge_into(d.merge, d.body, live, self.stack).others
        shared = f"; shared with stack {', '.join(others)}" if others else ""
        return f" (this stack's {d.merge.entries} entries only{shared})"

    def release_change(
        self, address: Address, obj: Manifest, merge: MergeSpec | None, classify: Classify,
        pin: Pin,
    ) -> Change:  # fmt: skip
        """The change of a configured object this stack no longer renders."""
        kept = self.kept_by(obj, merge)
        if not kept:
            note = "; nobody else holds any of it, so it is deleted"
            return decide(address, wanted=False, exists=True, pin=pin, note=note,
                          classify=classify)  # fmt: skip
        what = "this stack's fields"
        if merge is not None:
            gone = removed_entries(merge, obj, self.stack)
            what = f"this stack's {merge.entries} entries ({', '.join(gone) or 'none alone'})"
        note = f"; releases {what}, the object stays ({', '.join(kept)})"
        change = decide(address, wanted=False, exists=True, pin=pin, note=note)
        return replace(change, disruption="in-place")

    def kept_by(self, obj: Manifest, merge: MergeSpec | None) -> list[str]:
        """Who still holds part of ``obj`` once this stack leaves (empty: it can go)."""
        managers = [m for m in other_managers(obj, self.manager) if m != DEFAULTS_MANAGER]
        if merge is None:
            return [manager_name(m) for m in managers]
        # Another stack's manager may still hold the document key from an earlier write; what
        # counts for a shared document is whether another stack still records entries in it.
        foreign = [m for m in managers if not m.startswith(STACK_MANAGER_PREFIX)]
        stacks = [f"stack {s}" for s in release_from(merge, obj, self.stack).others]
        return [*stacks, *foreign]

    # -- apply ---------------------------------------------------------------------------------

    def write(self, d: Desired, live: Manifest | None) -> None:
        """Create (defaults first, under their own manager) or update this stack's part."""
        if live is None and d.create_defaults is not None:
            self.client.apply(d.create_defaults, field_manager=DEFAULTS_MANAGER, force=False)
        body, force = self._body(d, live)
        self.client.apply(body, field_manager=self.manager, force=force)

    def release(self, change: Change, obj: Mapping[str, Any], merge: MergeSpec | None) -> None:
        """Give this stack's part back; delete the object when nobody else holds any of it."""
        ref = ObjectRef.of(change.address)
        if not self.kept_by(dict(obj), merge):
            uid = change.pin.uid if change.pin else None
            self.client.delete(ref.api_version, ref.kind, ref.name, ref.namespace or None, uid=uid)
            return
        if merge is not None:
            body = with_precondition(release_from(merge, obj, self.stack).body, obj)
            self.client.apply(body, field_manager=self.manager, force=True)
            return
        self.client.apply(release_body(obj), field_manager=self.manager, force=False)
