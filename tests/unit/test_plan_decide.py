"""``decide``: every action from what a provider observed, and the gates that follow."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from aiplane.plan.address import Address
from aiplane.plan.decide import decide, no_disruption
from aiplane.plan.diff import FieldDiff
from aiplane.plan.model import Action, Change, Disruption, DriftNote, Pin, gates_of

A = Address("kubernetes", "apps/v1/Deployment", "ml", "llama")
PIN = Pin("7", "f" * 64, "uid-1")
DIFF = (FieldDiff("spec.replicas", 1, 2),)
DRIFT = (DriftNote("spec.replicas", "HorizontalPodAutoscaler"),)


def rolling(action: Action, diffs: Sequence[FieldDiff]) -> Disruption:
    """A stand-in provider rule that tells actions apart."""
    return {"create": "in-place", "update": "rolling-restart", "replace": "recreate",
            "delete": "node-disruptive"}.get(action, "none")  # type: ignore[return-value]  # fmt: skip


@pytest.mark.parametrize(
    ("observed", "expected"),
    [
        (dict(wanted=True, exists=False, diffs=DIFF), ("create", "new", "in-place")),
        (dict(wanted=True, exists=False, reason="new; estimate", estimate=True),
         ("create", "new; estimate", "in-place")),
        (dict(wanted=True, exists=True, diffs=DIFF, pin=PIN), ("update", "1 field(s) change",
                                                               "rolling-restart")),
        (dict(wanted=True, exists=True, diffs=DIFF, note=" (adopts)"),
         ("update", "1 field(s) change (adopts)", "rolling-restart")),
        (dict(wanted=True, exists=True, diffs=DIFF, reason="MIG re-partition"),
         ("update", "MIG re-partition", "rolling-restart")),
        (dict(wanted=True, exists=True, diffs=DIFF, replace_reason="spec.selector is immutable"),
         ("replace", "spec.selector is immutable", "recreate")),
        (dict(wanted=True, exists=True), ("noop", "", "none")),
        (dict(wanted=True, exists=True, note=" (adopts)"), ("noop", " (adopts)", "none")),
        (dict(wanted=True, exists=True, expected_drift=DRIFT), ("drift-expected", "", "none")),
        (dict(wanted=False, exists=True, note="; deleting a Namespace deletes everything in it"),
         ("delete", "no longer in the stack; deleting a Namespace deletes everything in it",
          "node-disruptive")),
    ],
)  # fmt: skip
def test_every_action(observed: dict[str, object], expected: tuple[str, str, str]) -> None:
    change = decide(A, classify=rolling, source="s.yaml#L3", subject="model llama",
                    desired_digest="d", **observed)  # type: ignore[arg-type]  # fmt: skip
    assert (change.action, change.reason, change.disruption) == expected
    assert change.address == A and change.source == ("s.yaml#L3")
    if change.action != "delete":
        assert change.desired_digest == "d" and change.subject == "model llama"


def test_create_has_no_pin_and_keeps_diffs_estimate() -> None:
    c = decide(A, wanted=True, exists=False, diffs=DIFF, pin=PIN, estimate=True)
    assert c.pin is None and c.diffs == DIFF and c.estimate


def test_update_and_replace_keep_pin_and_drift() -> None:
    up = decide(A, wanted=True, exists=True, diffs=DIFF, pin=PIN, expected_drift=DRIFT)
    assert (up.pin, up.expected_drift) == (PIN, DRIFT)
    rep = decide(A, wanted=True, exists=True, diffs=DIFF, pin=PIN, replace_reason="x")
    assert rep.pin == PIN and rep.diffs == DIFF


def test_default_classify() -> None:
    assert decide(A, wanted=False, exists=True).disruption == "recreate"
    assert decide(A, wanted=True, exists=True, diffs=DIFF).disruption == "in-place"
    assert decide(A, wanted=True, exists=False).disruption == "none"
    assert no_disruption("replace", DIFF) == "recreate"


def test_nothing_to_decide_is_a_bug() -> None:
    with pytest.raises(ValueError, match="neither wanted nor existing"):
        decide(A, wanted=False, exists=False)


@pytest.mark.parametrize(
    ("action", "disruption", "allow_disruption", "allow_delete", "flags"),
    [
        ("update", "rolling-restart", False, False, []),
        ("update", "node-disruptive", False, True, ["--allow-disruption"]),
        ("update", "node-disruptive", True, True, []),
        ("delete", "none", False, False, ["--allow-delete"]),
        ("delete", "none", False, True, []),
        ("replace", "recreate", False, False, ["--allow-delete"]),
        ("replace", "node-disruptive", False, False, ["--allow-disruption", "--allow-delete"]),
        ("create", "none", False, False, []),
        ("noop", "none", False, False, []),
    ],
)
def test_gates(
    action: Action, disruption: Disruption, allow_disruption: bool, allow_delete: bool,
    flags: list[str],
) -> None:  # fmt: skip
    gates = gates_of([Change(action, A, disruption=disruption)],
                     allow_disruption=allow_disruption, allow_delete=allow_delete)  # fmt: skip
    assert [g.flag for g in gates] == flags
    assert all(g.address == A for g in gates)


def test_pin_still() -> None:
    assert PIN.still(Pin("7", None, None))  # same version: nothing moved
    assert PIN.still(Pin("8", "f" * 64, "uid-1"))  # a write that changed nothing
    assert not PIN.still(Pin("8", "e" * 64, "uid-1"))
    assert not PIN.still(Pin("8", "f" * 64, "uid-2"))  # recreated
    assert not PIN.still(None)
    assert not Pin("7", None, "uid-1").still(Pin("8", None, "uid-1"))  # no fingerprint saved
    labels = Pin(None, "a" * 64)
    assert labels.still(Pin(None, "a" * 64)) and not labels.still(Pin(None, "b" * 64))


def test_address_display_and_json() -> None:
    assert str(A) == "Deployment/ml/llama"
    assert str(Address("kubernetes", "v1/Namespace", "", "ml")) == "Namespace/ml"
    assert str(Address("chroma", "collection", "", "docs")) == "collection docs"
    assert str(Address("pgvector", "collection", "db", "docs")) == "collection db/docs"
    assert Address.from_json(A.to_json()) == A and A.kind == "Deployment"
    assert sorted([A, Address("a", "t", "", "n")])[0].provider == "a"
    assert len({A, Address(*A.to_json().values())}) == 1


def test_offline_deletes_say_what_is_lost_like_live_ones() -> None:
    """The offline path decides with the same rule: a removed Namespace or PVC says what goes."""
    from aiplane.providers.kubernetes.applyset import ApplySet
    from aiplane.providers.kubernetes.offline import offline_plan

    before = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "old"}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
         "metadata": {"name": "cache", "namespace": "ml"}, "spec": {}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "ml"}},
    ]  # fmt: skip
    plan = offline_plan([], before, stack="s", stack_file="s.yaml",
                        applyset=ApplySet("s", "aiplane-system"), target="t")  # fmt: skip
    reasons = {str(c.address): (c.action, c.reason) for c in plan.changes}
    assert reasons == {
        "Namespace/old": ("delete", "no longer in the stack; deleting a Namespace deletes "
                                    "everything in it"),
        "PersistentVolumeClaim/ml/cache": ("delete", "no longer in the stack; the volume's data "
                                                     "(e.g. a model cache) may be lost"),
        "Service/ml/s": ("delete", "no longer in the stack"),
    }  # fmt: skip
