"""A large human plan shows the summary and destructive diffs only, unless asked for detail."""

from __future__ import annotations

import io
import json

from rich.console import Console

from aiplane.output.plan import DETAIL_LIMIT, render_human, render_json
from aiplane.plan.model import Change
from aiplane.providers.kubernetes.diff import FieldDiff
from aiplane.providers.kubernetes.objects import ObjectRef
from aiplane.secrets import Scrubber
from tests.unit.test_plan_review import big_plan, created_model, deleted_model, plan_of


def human(plan_changes: list[Change], *, detail: bool = False) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=200, color_system=None)
    render_human(plan_of(plan_changes), (), console, Scrubber(), detail=detail)
    return buf.getvalue()


def test_large_plan_prints_summary_and_every_destructive_diff_only() -> None:
    plan = big_plan()
    text = human(list(plan.changes))
    assert "Summary" in text and "+ model model-0999 v1: new" in text  # every subject
    for name in ("old-alpha", "old-beta", "old-gamma"):  # destructive objects always shown
        assert f"- Deployment/ml/{name} (delete, recreate)" in text
    assert "spec.replicas" not in text  # no create diff was formatted
    assert "3000 more object diff(s) not shown (3003 objects differ" in text
    assert "--detail" in text
    assert "Plan: 3000 to create, 0 to update, 0 to replace, 3 to delete" in text


def test_detail_shows_every_diff_of_a_large_plan() -> None:
    text = human(list(big_plan().changes), detail=True)
    assert text.count("spec.replicas") == 3000
    assert "not shown" not in text


def test_small_plan_keeps_every_diff_without_detail() -> None:
    changes = [c for n in range(DETAIL_LIMIT // 3) for c in created_model(n)]
    text = human([*changes, deleted_model("old")])
    assert text.count("spec.replicas") == len(changes)
    assert "not shown" not in text


def test_json_plan_is_always_complete() -> None:
    doc = json.loads(render_json(big_plan(), (), Scrubber()))
    creates = [c for c in doc["changes"] if c["action"] == "create"]
    assert len(creates) == 3000 and all(c["diffs"] for c in creates)


def test_large_plan_shows_a_replace_diff() -> None:
    ref = ObjectRef("apps/v1", "Deployment", "ml", "swapped").address
    swap = Change("replace", ref, "selector is immutable", "recreate",
                  diffs=(FieldDiff("spec.selector.matchLabels.app", "a", "b"),))  # fmt: skip
    text = human([*big_plan().changes, swap])
    assert "spec.selector.matchLabels.app" in text
