"""The plan engine: read through every provider, decide, gate, apply stage by stage, prune last.

``build_plan`` reads each provider's live state concurrently (one thread per provider; each
provider reads its own resources concurrently inside), asks each provider to plan its wanted
resources and its prunes, and returns one ``Plan`` for all of them. ``check_fresh`` refuses a saved
plan whose stack renders differently or whose resources moved since (``Pin.still``).
``apply_plan`` writes the stack's state first (so an interrupted apply can still prune what it
made), applies stage by stage across providers (``STAGES``), lets each provider settle (health
waits) after every stage, prunes in reverse stage order, and records the final state. The first
failure stops the apply; the report says what was and was not applied, and a rerun converges.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiplane.errors import AiplaneError
from aiplane.gpu.capacity import Capacity
from aiplane.plan.address import Address
from aiplane.plan.decide import decide
from aiplane.plan.diff import diff_values
from aiplane.plan.model import STAGES, Change, Mode, Plan, digest_of
from aiplane.plan.state import StackState, StateStore
from aiplane.providers.base import Live, Provider, Resource, Say

Wanted = Mapping[str, Sequence[Resource]]
"""Prepared resources per provider name (``prepare_all``)."""


class StalePlan(AiplaneError):
    """The live state (or the stack) moved on since the plan was made."""


class ApplyFailed(AiplaneError):
    """An apply stopped part-way; ``report`` says what was and was not applied."""

    def __init__(self, message: str, report: ApplyReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class ApplyReport:
    """What an apply did, and what it did not get to."""

    applied: list[Address] = field(default_factory=list)
    pruned: list[Address] = field(default_factory=list)
    not_applied: list[Address] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Summary lines for the terminal (at most 50 addresses)."""
        out = [f"applied {len(self.applied)}, pruned {len(self.pruned)}"]
        if self.not_applied:
            out.append(f"not applied ({len(self.not_applied)}):")
            out += [f"  {r}" for r in self.not_applied[:50]]
            if len(self.not_applied) > 50:
                out.append(f"  ... and {len(self.not_applied) - 50} more")
        return out


@dataclass(frozen=True)
class Run:
    """One command's providers, the stack's state store and the output scrubber."""

    stack: str
    stack_file: str
    providers: Mapping[str, Provider]
    store: StateStore
    scrub: Callable[[str], str]

    def provider(self, address: Address) -> Provider:
        """The provider that owns ``address``."""
        try:
            return self.providers[address.provider]
        except KeyError:
            raise AiplaneError(f"{address}: provider {address.provider} is not set up") from None


def now_iso() -> str:
    """The current UTC time as plans record it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stack_digest(wanted: Sequence[Resource]) -> str:
    """Digest of everything the stack renders, in render order."""
    return digest_of([r.digest for r in wanted])


def prepare_all(run: Run, resources: Sequence[Resource]) -> list[Resource]:
    """Every resource prepared by its provider, in render order."""
    by_provider: dict[str, list[Resource]] = {}
    for r in resources:
        by_provider.setdefault(r.provider, []).append(r)
    prepared = {n: run.providers[n].prepare(rs) for n, rs in by_provider.items()}
    cursor = dict.fromkeys(prepared, 0)
    out = []
    for r in resources:
        out.append(prepared[r.provider][cursor[r.provider]])
        cursor[r.provider] += 1
    return out


def group(resources: Sequence[Resource]) -> dict[str, list[Resource]]:
    """Resources per provider name, each list in render order."""
    out: dict[str, list[Resource]] = {}
    for r in resources:
        out.setdefault(r.provider, []).append(r)
    return out


def read_all(run: Run, wanted: Sequence[Resource], state: StackState) -> dict[str, Live]:
    """Every provider's live state, read concurrently (providers with only recorded inventory
    are read too: they may hold resources to prune)."""
    by_provider = group(wanted)
    names = sorted(run.providers)
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        futures = {
            n: pool.submit(
                run.providers[n].read, by_provider.get(n, []), state.inventory.get(n, {})
            )
            for n in names
        }
        return {n: f.result() for n, f in futures.items()}


def build_plan(
    run: Run,
    wanted: Sequence[Resource],
    *,
    mode: Mode,
    target: str,
    plan_id: str = "",
    lock_holder: str = "",
    capacity: Capacity | None = None,
) -> tuple[Plan, dict[str, Live]]:
    """One plan across every provider, and the live state it was made from."""
    state = run.store.read()
    lives = read_all(run, wanted, state)
    by_provider = group(wanted)
    planned: dict[Address, Change] = {}
    prunes: list[Change] = []
    warnings: list[str] = []
    for name in sorted(run.providers):
        provider, mine = run.providers[name], by_provider.get(name, [])
        for change in provider.plan(mine, lives[name]):
            planned[change.address] = change
        prunes += provider.prune(mine, lives[name])
    changes = [planned[r.address] for r in wanted] + prunes
    for name in sorted(run.providers):
        warnings += run.providers[name].warnings(changes)
    plan = Plan(
        stack=run.stack,
        stack_file=run.stack_file,
        stack_digest=stack_digest(wanted),
        mode=mode,
        target=target,
        state_id=run.store.id,
        plan_id=plan_id or uuid.uuid4().hex,
        created=now_iso(),
        changes=tuple(changes),
        warnings=tuple(warnings),
        lock_holder=lock_holder,
        capacity=capacity,
        capacity_before=state.capacity,
    )
    return plan, lives


def check_fresh(run: Run, plan: Plan, wanted: Sequence[Resource]) -> dict[str, Live]:
    """Refuse with "plan is stale: <resource> ..." if anything moved on; the live state read."""
    if plan.mode != "cluster":
        raise StalePlan(f"plan: made offline ({plan.target}); it cannot be applied")
    if plan.state_id != run.store.id:
        raise StalePlan("plan is stale: it was made for another stack or ApplySet")
    by_address = {c.address: c for c in plan.changes}
    if stack_digest(wanted) != plan.stack_digest:
        moved = next((r.address for r in wanted if _moved(by_address.get(r.address), r)), None)
        what = f" ({moved})" if moved else ""
        raise StalePlan(f"plan is stale: the stack renders differently since the plan{what}")
    lives = read_all(run, wanted, run.store.read())
    for change in plan.changes:
        _check_pin(run, change, lives)
    by_provider = group(wanted)
    for name, provider in sorted(run.providers.items()):
        for c in provider.prune(by_provider.get(name, []), lives[name]):
            if c.address not in by_address:
                raise StalePlan(f"plan is stale: {c.address} joined the ApplySet since the plan")
    return lives


def _moved(change: Change | None, r: Resource) -> bool:
    return change is None or change.desired_digest != r.digest


def _check_pin(run: Run, change: Change, lives: Mapping[str, Live]) -> None:
    if change.estimate and change.pin is None:
        return
    provider = run.provider(change.address)
    now = provider.pin_now(change.address, lives[change.address.provider])
    if change.pin is None:
        if now is not None:
            raise StalePlan(f"plan is stale: {change.address} was created since the plan")
        return
    if now is None:
        raise StalePlan(f"plan is stale: {change.address} was deleted since the plan")
    if not change.pin.still(now):
        raise StalePlan(f"plan is stale: {change.address} changed since the plan")


@dataclass
class _Apply:
    run: Run
    plan: Plan
    wanted: dict[Address, Resource]
    lives: Mapping[str, Live]
    say: Say
    health: bool
    report: ApplyReport = field(default_factory=ApplyReport)

    stages: dict[Address, int] = field(default_factory=dict)

    def stage_of(self, change: Change) -> int:
        return self.stage_index(change.address)

    def stage_index(self, address: Address) -> int:
        """The stage ``address`` is applied in (asked of its provider once: every stage asks)."""
        index = self.stages.get(address)
        if index is None:
            index = self.stages[address] = STAGES.index(self.run.provider(address).stage(address))
        return index

    def gate(self, index: int, name: str, pending: Sequence[Change]) -> None:
        """Before stage ``index``: every workload of the earlier stages must be healthy, changed
        by this run or not (a rerun after a timeout or an interrupt must not move traffic onto
        pods that are not ready)."""
        if not self.health or index == 0:
            return
        earlier = [a for a in self.wanted if self.stage_index(a) < index]
        problems = unhealthy_now(self.run, earlier)
        if problems:
            self.report.not_applied += [c.address for c in pending]
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ApplyFailed(
                f"stage {name}: not started: {self.run.scrub(problems[0])}{more}", self.report
            )

    def fail(self, exc: AiplaneError, change: Change, rest: Sequence[Change]) -> ApplyFailed:
        self.report.not_applied += [change.address, *(c.address for c in rest)]
        message = f"{change.address}: apply failed: {self.run.scrub(str(exc))}"
        return ApplyFailed(message, self.report)

    def one(self, change: Change) -> AiplaneError | None:
        provider = self.run.provider(change.address)
        try:
            live = self.lives.get(change.address.provider) or Live()
            provider.apply(change, self.wanted.get(change.address), live)
        except AiplaneError as exc:
            return exc
        return None

    def batch(self, changes: Sequence[Change], later: Sequence[Change]) -> list[Change]:
        """Apply ``changes`` concurrently per provider; raise on the first failure."""
        done: list[Change] = []
        for name, mine in _by_provider(changes).items():
            workers = max(1, self.run.providers[name].concurrency)
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(self.one, mine))
            done += [c for c, e in zip(mine, results, strict=True) if e is None]
            failed = [(c, e) for c, e in zip(mine, results, strict=True) if e is not None]
            if failed:
                untouched = [c for c in changes if c not in done and c is not failed[0][0]]
                self.report.applied += [c.address for c in done if c.action != "delete"]
                self.report.pruned += [c.address for c in done if c.action == "delete"]
                raise self.fail(failed[0][1], failed[0][0], [*untouched, *later])
        return done

    def settle(self, name: str, changes: Sequence[Change], later: Sequence[Change]) -> None:
        for provider_name, mine in _by_provider(changes).items():
            try:
                self.run.providers[provider_name].settle(mine, self.say, health=self.health)
            except AiplaneError as exc:
                self.report.not_applied += [c.address for c in later]
                raise ApplyFailed(f"stage {name}: {self.run.scrub(str(exc))}", self.report) from exc

    def run_all(self) -> ApplyReport:
        todo = [c for c in self.plan.changes if c.action in ("create", "update", "replace")]
        prunes = [c for c in self.plan.changes if c.action == "delete"]
        for index, name in enumerate(STAGES):
            batch = [c for c in todo if self.stage_of(c) == index]
            if not batch:
                continue
            later = [c for c in todo if self.stage_of(c) > index] + prunes
            self.gate(index, name, [*batch, *later])
            self.say(f"stage {name}: applying {len(batch)} object(s)")
            self.report.applied += [c.address for c in self.batch(batch, later)]
            self.settle(name, batch, later)
        for index in reversed(range(len(STAGES))):
            batch = [c for c in prunes if self.stage_of(c) == index]
            if batch:
                self.say(f"prune: deleting {len(batch)} object(s)")
                later = [c for c in prunes if self.stage_of(c) < index]
                self.report.pruned += [c.address for c in self.batch(batch, later)]
        return self.report


def unhealthy_now(run: Run, addresses: Sequence[Address]) -> list[str]:
    """Resources among ``addresses`` that are not healthy now, for providers that can tell
    (``unhealthy(addresses) -> [reason]``, optional in the provider protocol)."""
    out: list[str] = []
    by_provider: dict[str, list[Address]] = {}
    for a in addresses:
        by_provider.setdefault(a.provider, []).append(a)
    for name, mine in sorted(by_provider.items()):
        check = getattr(run.providers.get(name), "unhealthy", None)
        if check is not None:
            out += check(mine)
    return out


def _by_provider(changes: Sequence[Change]) -> dict[str, list[Change]]:
    out: dict[str, list[Change]] = {}
    for c in changes:
        out.setdefault(c.address.provider, []).append(c)
    return out


def recorded_state(run: Run, wanted: Sequence[Resource], capacity: Capacity | None) -> StackState:
    """The state this stack records after applying ``wanted``."""
    by_provider = group(wanted)
    inventory = {n: p.inventory(by_provider.get(n, [])) for n, p in sorted(run.providers.items())}
    return StackState({n: inv for n, inv in inventory.items() if inv}, capacity)


def apply_plan(
    run: Run,
    plan: Plan,
    wanted: Sequence[Resource],
    lives: Mapping[str, Live],
    *,
    say: Say,
    health: bool = True,
) -> ApplyReport:
    """Execute a checked, gated plan (see the module docstring)."""
    final = recorded_state(run, wanted, plan.capacity)
    run.store.write(run.store.read().merged(final))
    work = _Apply(run, plan, {r.address: r for r in wanted}, lives, say, health)
    report = work.run_all()
    run.store.write(final)
    return report


def _compared(body: Mapping[str, Any]) -> dict[str, Any]:
    """What an offline comparison shows of a body: its ``desired`` state where the provider keeps
    bookkeeping (stack positions, ownership marks) beside it, else the whole body."""
    desired = body.get("desired")
    return dict(desired) if isinstance(desired, Mapping) else dict(body)


def offline_changes(wanted: Sequence[Resource], before: Sequence[Resource]) -> list[Change]:
    """A client-side comparison of two renderings of resources (``plan --against``), for
    providers without an offline path of their own: bodies diffed, decided by the default rule
    (any difference is an update; what is gone is a delete)."""
    old = {r.address: r for r in before}
    out = []
    for r in wanted:
        was = old.pop(r.address, None)
        diffs = diff_values(_compared(was.body) if was else {}, _compared(r.body))
        out.append(
            decide(
                r.address,
                wanted=True,
                exists=was is not None,
                diffs=diffs,
                source=r.source,
                subject=r.subject,
                desired_digest=r.digest or digest_of(dict(r.body)),
            )
        )
    out += [
        decide(o.address, wanted=False, exists=True, source=o.source, subject=o.subject)
        for o in old.values()
    ]
    return out
