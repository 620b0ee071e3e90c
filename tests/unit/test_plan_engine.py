"""The plan engine end to end through a toy JSON-file provider: plan, apply, drift, stale, prune."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from aiplane.errors import AiplaneError
from aiplane.plan.engine import Run, StalePlan, apply_plan, build_plan, check_fresh, prepare_all
from aiplane.plan.model import Plan
from aiplane.providers import registry
from aiplane.providers.base import Provider, ProviderContext, Resolution
from aiplane.providers.registry import make_provider, register_provider, resolve_all
from aiplane.secrets import Scrubber
from tests.unit.toy_provider import FileStore, ToyBackend, ToyProvider, address, resource


def setup(tmp_path: Path, stack: str = "s") -> tuple[Run, ToyBackend, ToyProvider]:
    backend = ToyBackend(tmp_path / "backend.json")
    toy = ToyProvider(backend, stack)
    run = Run(stack, "stack.yaml", {"toy": toy}, FileStore(tmp_path / f"{stack}.state", stack),
              Scrubber())  # fmt: skip
    return run, backend, toy


def plan_and_apply(run: Run, *resources: object) -> tuple[Plan, list[str]]:
    wanted = prepare_all(run, list(resources))  # type: ignore[arg-type]
    plan, lives = build_plan(run, wanted, mode="cluster", target="toy")
    said: list[str] = []
    if plan.has_changes:
        lives = check_fresh(run, plan, wanted)
        apply_plan(run, plan, wanted, lives, say=said.append)
    return plan, said


def actions(plan: Plan) -> list[tuple[str, str]]:
    return [(c.action, str(c.address)) for c in plan.changes]


def test_plan_apply_then_nothing_to_do(tmp_path: Path) -> None:
    run, backend, _ = setup(tmp_path)
    plan, said = plan_and_apply(run, resource("a", size=1), resource("b", size=2, tag="x"))
    assert actions(plan) == [("create", "item a"), ("create", "item b")]
    assert said == ["stage collections: applying 2 object(s)", "toy: 2 settled"]
    assert backend.items()["b"]["body"] == {"size": 2, "tag": "x"}
    again, _ = plan_and_apply(run, resource("a", size=1), resource("b", size=2, tag="x"))
    assert actions(again) == [("noop", "item a"), ("noop", "item b")]
    assert not again.has_changes and backend.writes == 2


def test_out_of_band_edit_and_loss_show_as_drift(tmp_path: Path) -> None:
    run, backend, _ = setup(tmp_path)
    wanted = (resource("a", size=1, tag="x"), resource("b", size=2))
    plan_and_apply(run, *wanted)
    backend.put("a", {"size": 1, "tag": "edited"}, "s")
    backend.delete("b")
    plan, _ = plan_and_apply(run, *wanted)
    assert actions(plan) == [("update", "item a"), ("create", "item b")]
    assert [(d.path, d.before, d.after) for d in plan.changes[0].diffs] == [("tag", "edited", "x")]
    assert backend.items()["a"]["body"]["tag"] == "x" and "b" in backend.items()


def test_immutable_field_replaces_and_removed_item_is_pruned(tmp_path: Path) -> None:
    run, backend, _ = setup(tmp_path)
    plan_and_apply(run, resource("a", size=1), resource("b", size=2))
    plan, said = plan_and_apply(run, resource("a", size=9))
    assert actions(plan) == [("replace", "item a"), ("delete", "item b")]
    assert plan.changes[0].reason == "size is immutable"
    assert [g.flag for g in plan.gates(allow_disruption=False, allow_delete=False)] == [
        "--allow-delete", "--allow-delete"
    ]  # fmt: skip
    assert said[-1] == "prune: deleting 1 object(s)"
    assert set(backend.items()) == {"a"} and backend.items()["a"]["body"] == {"size": 9}


def test_stale_pin_and_changed_stack_are_refused(tmp_path: Path) -> None:
    run, backend, _ = setup(tmp_path)
    plan_and_apply(run, resource("a", size=1, tag="x"))
    wanted = prepare_all(run, [resource("a", size=1, tag="y")])
    plan, _ = build_plan(run, wanted, mode="cluster", target="toy")
    backend.put("a", {"size": 1, "tag": "moved"}, "s")
    with pytest.raises(StalePlan, match="item a changed since the plan"):
        check_fresh(run, plan, wanted)
    other = prepare_all(run, [resource("a", size=1, tag="z")])
    with pytest.raises(StalePlan, match="renders differently since the plan \\(item a\\)"):
        check_fresh(run, plan, other)
    offline = Plan.from_json({**plan.to_json(), "target": {**plan.to_json()["target"],
                                                           "mode": "offline"}})  # fmt: skip
    with pytest.raises(StalePlan, match="made offline"):
        check_fresh(run, offline, wanted)


def test_a_write_that_changes_nothing_is_not_stale(tmp_path: Path) -> None:
    run, backend, _ = setup(tmp_path)
    plan_and_apply(run, resource("a", size=1))
    wanted = prepare_all(run, [resource("a", size=1, tag="y")])
    plan, _ = build_plan(run, wanted, mode="cluster", target="toy")
    backend.put("a", {"size": 1}, "s")  # version moves, content does not
    check_fresh(run, plan, wanted)


def test_items_of_another_stack_are_neither_pruned_nor_taken_over(tmp_path: Path) -> None:
    run, backend, _ = setup(tmp_path)
    backend.put("theirs", {"size": 5}, "other-stack")
    plan, _ = plan_and_apply(run, resource("mine", size=1))
    assert actions(plan) == [("create", "item mine")]
    with pytest.raises(AiplaneError, match="item theirs: belongs to stack other-stack"):
        plan_and_apply(run, resource("theirs", size=5))
    assert backend.items()["theirs"]["owner"] == "other-stack"


def test_a_resource_joining_the_stack_after_the_plan_is_stale(tmp_path: Path) -> None:
    run, backend, _ = setup(tmp_path)
    wanted = prepare_all(run, [resource("a", size=1)])
    plan, _ = build_plan(run, wanted, mode="cluster", target="toy")
    backend.put("intruder", {"size": 3}, "s")
    with pytest.raises(StalePlan, match="item intruder joined"):
        check_fresh(run, plan, wanted)


def test_recorded_inventory_finds_what_lost_its_mark(tmp_path: Path) -> None:
    run, backend, _ = setup(tmp_path)
    plan_and_apply(run, resource("a", size=1), resource("b", size=1))
    assert run.store.read().inventory == {"toy": {"items": ("a", "b")}}
    backend.put("b", {"size": 1}, "someone-else")  # the owner mark is gone; the state remembers
    plan, _ = plan_and_apply(run, resource("a", size=1))
    assert actions(plan) == [("noop", "item a"), ("delete", "item b")]
    assert run.store.read().inventory == {"toy": {"items": ("a",)}}


def test_saved_plan_round_trips_and_applies(tmp_path: Path) -> None:
    run, backend, _ = setup(tmp_path)
    wanted = prepare_all(run, [resource("a", size=1)])
    plan, _ = build_plan(run, wanted, mode="cluster", target="toy", plan_id="p")
    saved = Plan.loads(plan.dumps())
    assert saved == plan
    lives = check_fresh(run, saved, wanted)
    report = apply_plan(run, saved, wanted, lives, say=lambda _: None)
    assert report.applied == [address("a")] and backend.items()["a"]["version"] == 1


def test_registry_builds_a_registered_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = ToyBackend(tmp_path / "b.json")
    monkeypatch.setattr(registry, "PROVIDERS", dict(registry.PROVIDERS))
    register_provider("toy", lambda ctx: ToyProvider(backend, ctx.stack))
    made: Provider = make_provider("toy", ProviderContext("s", "stack.yaml", Scrubber()))
    assert isinstance(made, ToyProvider) and made.stack == "s"
    with pytest.raises(AiplaneError, match="provider nope: not known to this aiplane"):
        make_provider("nope", ProviderContext("s", "stack.yaml", Scrubber()))


class _Versions:
    """A toy data source: ``toy://name@alias`` -> a version from a dict."""

    scheme = "toy"

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table
        self.calls: list[list[str]] = []

    def resolve(self, references: Sequence[str]) -> dict[str, Resolution]:
        self.calls.append(list(references))
        return {r: Resolution(r, f"s3://models/{self.table[r]}", self.table[r])
                for r in references if r in self.table}  # fmt: skip


def test_data_sources_resolve_their_scheme_once(monkeypatch: pytest.MonkeyPatch) -> None:
    source = _Versions({"toy://llama@prod": "7", "toy://phi@canary": "2"})
    monkeypatch.setattr(registry, "DATA_SOURCES", {"toy": lambda ctx: source})
    ctx = ProviderContext("s", "stack.yaml", Scrubber())
    refs = ["toy://llama@prod", "hf://org/model", "toy://phi@canary", "toy://llama@prod"]
    resolved = resolve_all(refs, ctx)
    assert {r: x.version for r, x in resolved.items()} == {"toy://llama@prod": "7",
                                                           "toy://phi@canary": "2"}  # fmt: skip
    assert source.calls == [["toy://llama@prod", "toy://phi@canary"]]
    with pytest.raises(AiplaneError, match="toy://nope@x: the toy data source did not resolve"):
        resolve_all(["toy://nope@x"], ctx)


def test_offline_changes_compare_two_renderings() -> None:
    from aiplane.plan.engine import offline_changes

    before = [resource("a", size=1), resource("gone", size=1), resource("same", size=3)]
    now = [resource("a", size=2), resource("new", size=1), resource("same", size=3)]
    changes = offline_changes(now, before)
    assert actions(Plan("s", "f", "d", "offline", "t", "id", "p", "c", tuple(changes))) == [
        ("update", "item a"), ("create", "item new"), ("noop", "item same"), ("delete", "item gone")
    ]  # fmt: skip
    assert [(d.path, d.before, d.after) for d in changes[0].diffs] == [("size", 1, 2)]
