"""Plan against a live cluster: read what the stack owns, diff each object, decide actions.

Reads are bounded to the stack: one LIST per kind with the ApplySet label selector, a GET for each
rendered object the LIST did not return, and a LIST of nodes per ``NodeLabels`` selector.
Objects provably unchanged (``fastpath``) cost no request; the rest get a server-side apply dry-run,
run concurrently.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiplane.cluster import nodes
from aiplane.cluster.applyset import ApplySet, recorded_capacity, recorded_group_kinds
from aiplane.cluster.client import ApiError, KubeClient
from aiplane.cluster.desired import Desired, Key, crd_scopes, key_of, prepare
from aiplane.cluster.diff import FieldDiff, diff_values, mask_diffs
from aiplane.cluster.drift import DriftRule, match_rule, pinned_fingerprint, rules_for
from aiplane.cluster.fastpath import Mismatch, compare, owned_fields, remove_at
from aiplane.cluster.kinds import disruption_of, immutable_reason, mig_refs_of
from aiplane.cluster.masking import Scrubber
from aiplane.cluster.objects import (
    PART_OF,
    SOURCE_ANN,
    SUBJECT_ANN,
    Manifest,
    annotation,
    digest,
    label,
    ref_of,
    shown_body,
    strip_server_fields,
)
from aiplane.cluster.plan import Change, DriftNote, Pin, Plan
from aiplane.cluster.scoped_reads import recorded_namespaces, scoped_lists
from aiplane.errors import AiplaneError, Diagnostic

FIELD_MANAGER = "aiplane"
_DELETE_NOTES = {
    "Namespace": "; deleting a Namespace deletes everything in it",
    "PersistentVolumeClaim": "; the volume's data (e.g. a model cache) may be lost",
    "CustomResourceDefinition": "; deleting a CRD deletes all its custom resources",
}


class PlanError(AiplaneError):
    """One or more objects could not be planned."""


@dataclass
class LiveState:
    """Live objects by identity, plus the stack's members found by label."""

    objects: dict[Key, Manifest] = field(default_factory=dict)
    members: dict[Key, Manifest] = field(default_factory=dict)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stack_digest(desired: Iterable[Desired]) -> str:
    return digest([d.digest for d in desired])


class ClusterPlanner:
    """Builds a ``Plan`` for one stack against the cluster behind ``client``."""

    def __init__(
        self,
        client: KubeClient,
        *,
        stack: str,
        stack_file: str,
        applyset: ApplySet,
        scrubber: Scrubber | None = None,
        drift_rules: Sequence[DriftRule] = (),
    ) -> None:
        self.client = client
        self.stack = stack
        self.stack_file = stack_file
        self.applyset = applyset
        self.scrub = scrubber or Scrubber()
        self.drift_rules = tuple(drift_rules)
        self.live = LiveState()
        self.crds: dict[tuple[str, str], bool] = {}
        self.new_namespaces: set[str] = set()
        self.fingerprints = False  # content digests in pins: only saved plans need them
        self.mig_refs: frozenset[str] = frozenset()  # MIG configs NodeLabels select

    # -- entry points --------------------------------------------------------------------------

    def prepare(self, manifests: Sequence[Mapping[str, Any]]) -> list[Desired]:
        for m in manifests:
            if ref_of(m).kind == "Secret":
                self.scrub.learn_secret(m)
        self.crds = crd_scopes(manifests)
        self.mig_refs = mig_refs_of(manifests)
        self.new_namespaces = {
            str((m.get("metadata") or {}).get("name"))
            for m in manifests
            if m.get("kind") == "Namespace"
        }
        return prepare(
            manifests,
            applyset=self.applyset,
            default_namespace=self.client.config.namespace,
            scope=self._namespaced,
        )

    def plan(
        self, manifests: Sequence[Mapping[str, Any]], *, plan_id: str = "", lock_holder: str = ""
    ) -> tuple[Plan, list[Desired]]:
        desired = self.prepare(manifests)
        parent = self.client.get("v1", "ConfigMap", self.applyset.name, self.applyset.namespace)
        self.applyset.check_owner(parent)
        self.live = self.fetch_live(desired, recorded_group_kinds(parent),
                                    recorded_namespaces(parent))  # fmt: skip
        changes, problems = self._plan_all(desired)
        if problems:
            raise PlanError(f"{len(problems)} object(s) could not be planned", problems)
        changes += self._prunes({d.key for d in desired})
        plan = Plan(
            stack=self.stack,
            stack_file=self.stack_file,
            stack_digest=stack_digest(desired),
            mode="cluster",
            target=f"context {self.client.config.context} ({self.client.config.server})",
            applyset_id=self.applyset.id,
            plan_id=plan_id or uuid.uuid4().hex,
            created=now_iso(),
            changes=tuple(changes),
            warnings=tuple(self._warnings(changes)),
            lock_holder=lock_holder,
            capacity_before=recorded_capacity(parent),
        )
        return plan, desired

    def pin(self, live: Manifest) -> Pin:
        """What a saved plan records about a live object (the content digest only when saving)."""
        meta = live["metadata"]
        fingerprint = pinned_fingerprint(live) if self.fingerprints else None
        return Pin(meta.get("resourceVersion"), fingerprint, meta.get("uid"))

    # -- live state ----------------------------------------------------------------------------

    def _namespaced(self, api_version: str, kind: str) -> bool | None:
        res = self.client.resource(api_version, kind)
        return None if res is None else res.namespaced

    def fetch_live(
        self, desired: Sequence[Desired], recorded: Iterable[str], namespaces: Iterable[str] = ()
    ) -> LiveState:
        """LIST every kind the stack uses or used (by label) in the namespaces it uses or used
        (``namespaces``: more than the desired objects name), then GET the objects not found."""
        kinds: dict[str, tuple[str, str]] = {}
        for d in desired:
            if not d.node_labels and self.client.resource(d.ref.api_version, d.ref.kind):
                kinds.setdefault(d.ref.group_kind, (d.ref.api_version, d.ref.kind))
        for gk in recorded:
            found = self._resolve_group_kind(gk)
            if found:
                kinds.setdefault(gk, found)
        state = LiveState()
        lists = self.client.map(
            lambda k: self.client.list(k[0], k[1], label_selector=self.applyset.selector,
                                       namespace=k[2]),
            scoped_lists(self.client, kinds.values(), desired, namespaces),
        )  # fmt: skip
        for items in lists:
            for obj in items:
                state.members[key_of(ref_of(obj))] = obj
        state.objects.update(state.members)
        missing = [
            d
            for d in desired
            if d.key not in state.objects
            and not d.node_labels
            and self.client.resource(d.ref.api_version, d.ref.kind)
        ]
        for d, got in zip(missing, self.client.map(self._get, missing), strict=True):
            if got is not None:
                state.objects[d.key] = got
        for obj in state.objects.values():
            if obj.get("kind") == "Secret":
                self.scrub.learn_secret(obj)
        return state

    def _get(self, d: Desired) -> Manifest | None:
        r = d.ref
        return self.client.get(r.api_version, r.kind, r.name, r.namespace or None)

    def _resolve_group_kind(self, gk: str) -> tuple[str, str] | None:
        kind, _, group = gk.partition(".")
        for version in self.client.group_versions(group):
            api_version = f"{group}/{version}" if group else version
            if self.client.resource(api_version, kind):
                return api_version, kind
        return None

    # -- per object ----------------------------------------------------------------------------

    def _plan_all(self, desired: Sequence[Desired]) -> tuple[list[Change], list[Diagnostic]]:
        """Objects provably unchanged are decided here; the rest go to a thread pool as soon as
        they are found, so dry-run requests overlap with the local walk."""
        results: list[Change | Diagnostic | Future[Change | Diagnostic]] = []
        with ThreadPoolExecutor(max_workers=self.client.concurrency) as pool:
            for d in desired:
                local = self._plan_locally(d)
                results.append(local if local is not None else pool.submit(self._plan_safely, d))
            done = [r.result() if isinstance(r, Future) else r for r in results]
        changes = [c for c in done if isinstance(c, Change)]
        problems = [p for p in done if isinstance(p, Diagnostic)]
        return changes, problems

    def _plan_locally(self, d: Desired) -> Change | None:
        """The no-request no-op, when the fast path proves it; None when a request is needed."""
        live = self.live.objects.get(d.key)
        if live is None or d.node_labels or label(live, PART_OF) != self.applyset.id:
            return None
        owned = owned_fields(live, FIELD_MANAGER, d.ref.api_version)
        if owned is None or not compare(d.body, live, owned).exact:
            return None
        return self._change(d, action="noop", pin=self.pin(live))

    def _plan_safely(self, d: Desired) -> Change | Diagnostic:
        try:
            return self.plan_one(d)
        except AiplaneError as exc:
            file, _, line = (d.source or self.stack_file).partition("#L")
            return Diagnostic(
                self.scrub(f"{d.ref}: {exc}"),
                file=file,
                line=int(line) if line.isdigit() else 0,
                column=1 if line.isdigit() else 0,
            )

    def plan_one(self, d: Desired) -> Change:
        if d.node_labels:
            return nodes.plan_node_labels(self.client, d)
        if self.client.resource(d.ref.api_version, d.ref.kind) is None:
            return self._estimate(d)
        live = self.live.objects.get(d.key)
        if live is None:
            return self._create(d)
        return self._update(d, live)

    def _change(self, d: Desired, **kw: Any) -> Change:
        return Change(ref=d.ref, source=d.source, subject=d.subject, desired_digest=d.digest, **kw)

    def _estimate(self, d: Desired) -> Change:
        crd = (d.ref.group, d.ref.kind) in self.crds
        why = "installed by this plan" if crd else "not installed"
        diffs = mask_diffs(d.ref, diff_values({}, shown_body(d.body)))
        reason = f"CRD for {d.ref.group_kind} {why}; client-side estimate"
        return self._change(d, action="create", reason=reason, diffs=diffs, estimate=True)

    def _create(self, d: Desired) -> Change:
        estimate, reason = False, "new"
        try:
            self.client.apply(d.body, field_manager=FIELD_MANAGER, dry_run=True)
        except ApiError as exc:
            if exc.status != 404:
                raise
            if d.ref.namespace not in self.new_namespaces:
                raise PlanError(
                    f"namespace {d.ref.namespace} does not exist and the stack does not create it"
                ) from exc
            estimate, reason = True, "new; namespace created by this plan (client-side estimate)"
        diffs = mask_diffs(d.ref, diff_values({}, shown_body(d.body)))
        return self._change(d, action="create", reason=reason, diffs=diffs, estimate=estimate)

    def _update(self, d: Desired, live: Manifest) -> Change:
        pin = self.pin(live)
        foreign = label(live, PART_OF)
        if foreign and foreign != self.applyset.id:
            raise PlanError(f"belongs to another ApplySet ({foreign}); refusing to take it over")
        adopt = "" if foreign else " (adopts an object aiplane did not manage)"
        body, notes, exact = self.expected_drift(d, live)
        client_diffs = [FieldDiff(m.path, m.live, m.desired) for m in _mismatches(body, live)]
        reason = immutable_reason(d.ref, d.body, live, client_diffs)
        if reason:
            return self._replace(d, live, pin, reason, notes)
        quiet = "drift-expected" if notes else "noop"
        if exact and not adopt:
            return self._change(d, action=quiet, pin=pin, expected_drift=notes)
        try:
            result = self.client.apply(body, field_manager=FIELD_MANAGER, dry_run=True)
        except ApiError as exc:
            if not exc.immutable:
                raise
            return self._replace(d, live, pin, self.scrub(str(exc)), notes)
        diffs = mask_diffs(
            d.ref, diff_values(strip_server_fields(live), strip_server_fields(result))
        )
        if not diffs:
            return self._change(d, action=quiet, pin=pin, expected_drift=notes, reason=adopt)
        disruption = disruption_of(d.ref, "update", diffs, self.mig_refs)
        return self._change(
            d, action="update", pin=pin, diffs=diffs, disruption=disruption,
            reason=f"{len(diffs)} field(s) change{adopt}", expected_drift=notes,
        )  # fmt: skip

    def _replace(
        self, d: Desired, live: Manifest, pin: Pin, reason: str, notes: tuple[DriftNote, ...]
    ) -> Change:
        diffs = mask_diffs(
            d.ref, diff_values(shown_body(strip_server_fields(live)), shown_body(d.body))
        )
        return self._change(
            d, action="replace", pin=pin, diffs=diffs, reason=reason,
            disruption=disruption_of(d.ref, "replace", diffs), expected_drift=notes,
        )  # fmt: skip

    def expected_drift(
        self, d: Desired, live: Manifest
    ) -> tuple[Manifest, tuple[DriftNote, ...], bool]:
        """Drop fields other controllers own; return (body to send, notes, provably unchanged)."""
        owned = owned_fields(live, FIELD_MANAGER, d.ref.api_version)
        walk = compare(d.body, live, owned)
        if walk.exact or not walk.mismatches:
            return d.body, (), walk.exact
        rules = rules_for(d.body, self.drift_rules)
        hits = [
            (m, r) for m in walk.mismatches if (r := match_rule(rules, d.ref.kind, m.path, live))
        ]
        if not hits:
            return d.body, (), False
        body = copy.deepcopy(d.body)
        for m, _ in hits:
            remove_at(body, m.where)
        notes = tuple(DriftNote(m.path, r.owner) for m, r in hits)
        return body, notes, compare(body, live, owned).exact

    # -- prune ---------------------------------------------------------------------------------

    def _prunes(self, wanted: set[Key]) -> list[Change]:
        out = []
        for key, obj in sorted(self.live.members.items()):
            if key in wanted or label(obj, PART_OF) != self.applyset.id:
                continue
            ref = ref_of(obj)
            out.append(
                Change(
                    action="delete",
                    ref=ref,
                    reason="no longer in the stack" + _DELETE_NOTES.get(ref.kind, ""),
                    disruption=disruption_of(ref, "delete", ()),
                    pin=self.pin(obj),
                    source=annotation(obj, SOURCE_ANN),
                    subject=annotation(obj, SUBJECT_ANN),
                )
            )
        return out

    def _warnings(self, changes: Sequence[Change]) -> list[str]:
        out = []
        for c in changes:
            if c.estimate and "not installed" in c.reason:
                out.append(f"{c.ref}: {c.reason}; apply fails unless the CRD exists by then")
            if c.action == "noop" and c.reason.startswith("no node matches"):
                out.append(f"{c.ref}: {c.reason}")
        return out


def _mismatches(body: Manifest, live: Manifest) -> list[Mismatch]:
    return compare(body, live, None).mismatches
