"""Execute a plan: refuse it if stale, apply in stages, wait for health, prune last.

Stages: CRDs and Namespaces (then wait Established) -> cluster configuration -> workloads ->
routes -> workflow templates; prune runs after all of them, in reverse stage order, and deletes
only this ApplySet's members (by uid, so a re-created object is never hit). On the first failure
the apply stops and reports what was applied and what was not; a rerun converges.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiplane.cluster import nodes
from aiplane.cluster.applyset import recorded_group_kinds
from aiplane.cluster.client import ApiError, ClusterUnreachable
from aiplane.cluster.desired import Desired, key_of
from aiplane.cluster.drift import pinned_fingerprint
from aiplane.cluster.health import wait_healthy
from aiplane.cluster.interrupt import Interrupted, StopSignal
from aiplane.cluster.kinds import MIG_CONFIG, STAGES, stage_of
from aiplane.cluster.objects import ObjectRef, ref_of
from aiplane.cluster.plan import Change, Plan
from aiplane.cluster.planner import FIELD_MANAGER, ClusterPlanner, stack_digest
from aiplane.errors import AiplaneError


class _Skipped(AiplaneError):
    """A change not started because the apply was asked to stop."""


class StalePlan(AiplaneError):
    """The live state (or the stack) moved on since the plan was made."""


class ApplyFailed(AiplaneError):
    """An apply stopped part-way; ``report`` says what was and was not applied."""

    def __init__(self, message: str, report: ApplyReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class ApplyReport:
    applied: list[ObjectRef] = field(default_factory=list)
    pruned: list[ObjectRef] = field(default_factory=list)
    not_applied: list[ObjectRef] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"applied {len(self.applied)}, pruned {len(self.pruned)}"]
        if self.not_applied:
            out.append(f"not applied ({len(self.not_applied)}):")
            out += [f"  {r}" for r in self.not_applied[:50]]
            if len(self.not_applied) > 50:
                out.append(f"  ... and {len(self.not_applied) - 50} more")
        return out


def check_fresh(planner: ClusterPlanner, plan: Plan, desired: Sequence[Desired]) -> None:
    """Refuse with "plan is stale: <object> changed since the plan" if anything moved on."""
    if plan.mode != "cluster":
        raise StalePlan(f"plan: made offline ({plan.target}); it cannot be applied to a cluster")
    if plan.applyset_id != planner.applyset.id:
        raise StalePlan("plan is stale: it was made for another stack or ApplySet")
    by_ref = {key_of(c.ref): c for c in plan.changes}
    if stack_digest(desired) != plan.stack_digest:
        changed = next((d.ref for d in desired if _digest_moved(by_ref.get(d.key), d)), None)
        what = f" ({changed})" if changed else ""
        raise StalePlan(f"plan is stale: the stack renders differently since the plan{what}")
    deleted = [key_of(c.ref) for c in plan.changes if c.action == "delete"]
    planner.live = planner.fetch_live(desired, {c.ref.group_kind for c in plan.changes},
                                      {c.ref.namespace for c in plan.changes})  # fmt: skip
    for d in desired:
        _check_one(planner, by_ref[d.key], d)
    for key, obj in planner.live.members.items():
        if key not in by_ref:
            raise StalePlan(f"plan is stale: {ref_of(obj)} joined the ApplySet since the plan")
    for key in deleted:
        _check_one(planner, by_ref[key], None)


def _digest_moved(change: Change | None, d: Desired) -> bool:
    return change is None or change.desired_digest != d.digest


def _check_one(planner: ClusterPlanner, change: Change, d: Desired | None) -> None:
    if change.estimate and change.pin is None:
        return
    if d is not None and d.node_labels:
        now = nodes.current_pin(planner.client, d.body)
        if change.pin is None or now != change.pin.fingerprint:
            raise StalePlan(f"plan is stale: {change.ref} (node labels) changed since the plan")
        return
    live = planner.live.objects.get(key_of(change.ref))
    pin = change.pin
    if pin is None:
        if live is not None:
            raise StalePlan(f"plan is stale: {change.ref} was created since the plan")
        return
    if live is None:
        raise StalePlan(f"plan is stale: {change.ref} was deleted since the plan")
    meta = live["metadata"]
    if meta.get("resourceVersion") == pin.resource_version:
        return
    if (
        meta.get("uid") != pin.uid
        or not pin.fingerprint
        or pinned_fingerprint(live) != pin.fingerprint
    ):
        raise StalePlan(f"plan is stale: {change.ref} changed since the plan")


class Applier:
    """Runs one checked plan against the cluster."""

    def __init__(
        self,
        planner: ClusterPlanner,
        plan: Plan,
        desired: Sequence[Desired],
        *,
        say: Callable[[str], None],
        wait: bool = True,
        stop: StopSignal | None = None,
        health_cap: float | None = None,
    ) -> None:
        self.planner = planner
        self.client = planner.client
        self.plan = plan
        self.desired = {d.key: d for d in desired}
        self.say = say
        self.wait = wait
        self.stop = stop
        self.health_cap = health_cap
        self.report = ApplyReport()

    def run(self) -> ApplyReport:
        todo = [c for c in self.plan.changes if c.action in ("create", "update", "replace")]
        prunes = [c for c in self.plan.changes if c.action == "delete"]
        self._write_parent(final=False)
        for index, name in enumerate(STAGES):
            batch = [c for c in todo if stage_of(c.ref) == index]
            if batch:
                self._stage(name, batch, [c for c in todo if stage_of(c.ref) > index] + prunes)
                if index == 0:
                    self.client.refresh_discovery()
        for index in reversed(range(len(STAGES))):
            batch = [c for c in prunes if stage_of(c.ref) == index]
            if batch:
                self._prune(batch, [c for c in prunes if stage_of(c.ref) < index])
        self._write_parent(final=True)
        return self.report

    def _write_parent(self, *, final: bool) -> None:
        applyset = self.planner.applyset
        kinds = {d.ref.group_kind for d in self.desired.values() if not d.node_labels}
        namespaces = {d.ref.namespace for d in self.desired.values()}
        if not final:
            parent = self.client.get("v1", "ConfigMap", applyset.name, applyset.namespace)
            applyset.check_owner(parent)
            kinds |= recorded_group_kinds(parent)
            kinds |= {c.ref.group_kind for c in self.plan.changes if c.action == "delete"}
        capacity = self.plan.capacity
        recorded = json.dumps(capacity.to_json(), sort_keys=True) if capacity else None
        parent = applyset.parent(kinds, namespaces, recorded)
        self.client.apply(parent, field_manager=FIELD_MANAGER)

    def _fail(self, exc: AiplaneError, change: Change, rest: Sequence[Change]) -> ApplyFailed:
        self.report.not_applied += [change.ref, *(c.ref for c in rest)]
        return ApplyFailed(
            f"{change.ref}: apply failed: {self.planner.scrub(str(exc))}", self.report
        )

    def _check_stop(self, later: Sequence[Change]) -> None:
        """Stop between requests once SIGINT/SIGTERM came (``interrupt``)."""
        if self.stop is not None and self.stop.requested:
            self.report.not_applied += [c.ref for c in later]
            self.stop.check(self.report)

    def _stage(self, name: str, batch: list[Change], later: list[Change]) -> None:
        self._check_stop([*batch, *later])
        self.say(f"stage {name}: applying {len(batch)} object(s)")
        results = self.client.map(self._apply_safely, batch)
        skipped = [c for c, e in zip(batch, results, strict=True) if isinstance(e, _Skipped)]
        failed = [(c, e) for c, e in zip(batch, results, strict=True)
                  if e is not None and not isinstance(e, _Skipped)]  # fmt: skip
        self.report.applied += [c.ref for c, e in zip(batch, results, strict=True) if e is None]
        if skipped and not failed:
            self._check_stop([*skipped, *later])
        if failed:
            rest = [c for c, _ in failed[1:]] + later
            raise self._fail(failed[0][1], failed[0][0], rest)
        if not self.wait:
            return
        refs = [c.ref for c in batch if c.ref.kind != "NodeLabels"]
        refs += [
            ObjectRef("v1", "Node", "", n)
            for c in batch
            if c.ref.kind == "NodeLabels" and any(d.path.endswith(MIG_CONFIG) for d in c.diffs)
            for n in nodes.list_node_names(c.diffs)
        ]
        try:
            wait_healthy(self.client, refs, self.say, selector=self.planner.applyset.selector,
                         cap=self.health_cap, stop=self._poll_stop(later))  # fmt: skip
        except Interrupted:
            raise
        except (ApiError, ClusterUnreachable, AiplaneError) as exc:
            raise ApplyFailed(
                f"stage {name}: {self.planner.scrub(str(exc))}", self._not_applied(later)
            ) from exc

    def _poll_stop(self, later: list[Change]) -> Callable[[], None] | None:
        return None if self.stop is None else lambda: self._check_stop(later)

    def _not_applied(self, later: list[Change]) -> ApplyReport:
        self.report.not_applied += [c.ref for c in later]
        return self.report

    def _apply_safely(self, change: Change) -> AiplaneError | None:
        if self.stop is not None and self.stop.requested:
            return _Skipped("stopped")  # not started: only requests in flight finish
        try:
            self._apply_one(change)
        except AiplaneError as exc:
            return exc
        return None

    def _apply_one(self, change: Change) -> None:
        d = self.desired[key_of(change.ref)]
        if d.node_labels:
            nodes.apply_node_labels(self.client, d.body)
            return
        if change.action == "replace":
            self._delete_and_wait(change)
        body = d.body
        live = self.planner.live.objects.get(d.key)
        if live is not None and change.action == "update":
            body, _, _ = self.planner.expected_drift(d, live)
        self.client.apply(body, field_manager=FIELD_MANAGER, force=True)

    def _delete_and_wait(self, change: Change, timeout: float = 120) -> None:
        r = change.ref
        uid = change.pin.uid if change.pin else None
        self.client.delete(r.api_version, r.kind, r.name, r.namespace or None, uid=uid,
                           propagation="Foreground")  # fmt: skip
        deadline = time.monotonic() + timeout
        while self.client.get(r.api_version, r.kind, r.name, r.namespace or None) is not None:
            if time.monotonic() > deadline:
                raise AiplaneError(f"{r}: still terminating after {timeout:.0f} s")
            time.sleep(0.5)

    def _prune(self, batch: list[Change], later: list[Change]) -> None:
        self._check_stop([*batch, *later])
        self.say(f"prune: deleting {len(batch)} object(s)")

        def delete(c: Change) -> AiplaneError | None:
            r = c.ref
            try:
                uid = c.pin.uid if c.pin else None
                self.client.delete(r.api_version, r.kind, r.name, r.namespace or None, uid=uid)
            except AiplaneError as exc:
                return exc
            return None

        results = self.client.map(delete, batch)
        self.report.pruned += [c.ref for c, e in zip(batch, results, strict=True) if e is None]
        failed = [(c, e) for c, e in zip(batch, results, strict=True) if e is not None]
        if failed:
            raise self._fail(failed[0][1], failed[0][0], [c for c, _ in failed[1:]] + later)
