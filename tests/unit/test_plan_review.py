"""Review order: destructive rows first and never truncated, drift in its own section, label
keys whole."""

from __future__ import annotations

import io

from rich.console import Console

from aiplane.output.plan import MARKDOWN_LIMIT, render_human, render_markdown, summarize
from aiplane.plan.model import CHANGED_OUTSIDE, Change, Plan
from aiplane.providers.kubernetes.diff import FieldDiff
from aiplane.providers.kubernetes.objects import ObjectRef
from aiplane.secrets import Scrubber


def plan_of(changes: list[Change]) -> Plan:
    return Plan("big", "stacks/big.yaml", "d", "cluster", "context test", "id", "p", "t",
                tuple(changes))  # fmt: skip


def created_model(n: int) -> list[Change]:
    name, subject = f"model-{n:04d}", f"model model-{n:04d} v1 (production)"
    source = f"stacks/big.yaml#L{10 + n}"
    return [
        Change("create", ObjectRef("apps/v1", kind, "ml", name).address, "new",
               diffs=(FieldDiff("spec.replicas", None, 1),), source=source, subject=subject)
        for kind in ("Deployment", "Service", "PodDisruptionBudget")
    ]  # fmt: skip


def deleted_model(name: str) -> Change:
    return Change("delete", ObjectRef("apps/v1", "Deployment", "ml", name).address,
                  "no longer in the stack", "recreate", subject=f"model {name} v0 (production)",
                  source="")  # fmt: skip


def big_plan() -> Plan:
    changes = [c for n in range(1000) for c in created_model(n)]
    # The deletions come last in plan order, where a budget-truncated table would drop them.
    changes += [deleted_model(n) for n in ("old-alpha", "old-beta", "old-gamma")]
    return plan_of(changes)


def test_thousand_model_markdown_names_every_deletion_within_the_limit() -> None:
    text = render_markdown(big_plan(), (), Scrubber())
    assert len(text) <= MARKDOWN_LIMIT
    for name in ("old-alpha", "old-beta", "old-gamma"):
        assert f"model {name} v0" in text, name
    assert "Truncated" in text  # the creates did not all fit, and that is said
    destructive = text.index("Destructive changes")
    assert destructive < text.index("model old-alpha") < text.index("model model-0000")


def test_human_summary_lists_destructive_rows_first() -> None:
    buf = io.StringIO()
    plan = plan_of([*created_model(1), deleted_model("old"), *created_model(2)])
    render_human(plan, (), Console(file=buf, width=200, color_system=None), Scrubber())
    text = buf.getvalue()
    assert text.index("Destructive") < text.index("- model old v0") < text.index("Summary")
    assert text.index("Summary") < text.index("model model-0001")
    # Per-object diffs follow the same order.
    changes = text[text.index("\nChanges") :]
    assert changes.index("Deployment/ml/old") < changes.index("Deployment/ml/model-0001")


def test_namespace_and_node_disruptive_changes_count_as_destructive() -> None:
    ns = Change(
        "update",
        ObjectRef("v1", "Namespace", "", "team").address,
        "1 field(s) change",
        diffs=(FieldDiff("metadata.labels.team", "a", "b"),),
        subject="namespace team",
    )
    mig = Change(
        "update",
        ObjectRef("v1", "ConfigMap", "gpu", "cfg").address,
        "",
        "node-disruptive",
        (FieldDiff("data.x", "1", "2"),),
        subject="pool a100",
    )
    text = render_markdown(plan_of([*created_model(1), ns, mig]), (), Scrubber())  # fmt: skip
    head = text[: text.index("**Other changes**")]
    assert "namespace team" in head and "pool a100" in head and "model-0001" not in head


def test_drift_has_its_own_section() -> None:
    drift = Change("update", ObjectRef("apps/v1", "Deployment", "ml", "m").address,
                   f"1 field(s) change ({CHANGED_OUTSIDE} by kubectl-edit)", "rolling-restart",
                   (FieldDiff("spec.template.spec.containers[name=vllm].image", "x:2", "x:1"),),
                   subject="model m v1 (production)")  # fmt: skip
    plan = plan_of([*created_model(1), drift])
    markdown = render_markdown(plan, (), Scrubber())
    section = markdown.index("**Changed outside aiplane**")
    assert section < markdown.index("model m v1") < markdown.index("model model-0001")
    buf = io.StringIO()
    render_human(plan, (), Console(file=buf, width=200, color_system=None), Scrubber())
    human = buf.getvalue()
    assert (
        human.index("Changed outside aiplane") < human.index("model m v1:") < human.index("Summary")
    )


def test_label_keys_are_never_cut_at_dots() -> None:
    change = Change("update", ObjectRef("apps/v1", "Deployment", "ml", "m").address, "",
                    diffs=(FieldDiff("spec.template.metadata.labels.aiplane.dev/pool", "a", "b"),
                           FieldDiff("metadata.annotations.nvidia.com/mig.config", "x", "y")),
                    subject="model m")  # fmt: skip
    [line] = summarize(plan_of([change]))
    assert "aiplane.dev/pool a -> b" in line.text and "nvidia.com/mig.config x -> y" in line.text


def test_weights_are_told_in_stack_terms() -> None:
    ann = "metadata.annotations.aiplane.dev/weights"
    raw = "spec.rules[name=stages].backendRefs[name=llama-canary].weight"
    change = Change("update", ObjectRef("gateway.networking.k8s.io/v1", "HTTPRoute", "ml",
                                        "llama").address, "",
                    diffs=(FieldDiff(ann, "v3.0=95,v3.1=5", "v3.0=80,v3.1=20"),
                           FieldDiff(raw, 5, 20)),
                    subject="model llama")  # fmt: skip
    [line] = summarize(plan_of([change]))
    assert line.text == "v3.0 95 -> 80 %, v3.1 5 -> 20 %"
