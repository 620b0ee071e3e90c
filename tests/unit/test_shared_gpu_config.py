"""Several stacks on one GPU cluster: the shared mig-parted document, create-only defaults, render
of several stacks into one directory, and node labels set by more than one stack (issue 11)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from aiplane.errors import AiplaneError
from aiplane.providers.base import PlanError
from aiplane.providers.kubernetes.applyset import ApplySet
from aiplane.providers.kubernetes.desired import prepare
from aiplane.providers.kubernetes.shared_doc import (
    MergeSpec,
    merge_into,
    release_from,
    removed_entries,
    with_precondition,
)
from aiplane.providers.nodelabels import classify, conflicts, release_address, release_change
from aiplane.render.output_dir import StackOutput, refuse_conflicts

SPEC = MergeSpec("config.yaml", "mig-configs")
REPO = Path(__file__).resolve().parents[2]


def doc_cm(entries: dict[str, Any], owners: dict[str, str] | None = None, rv: str = "") -> Any:
    meta: dict[str, Any] = {"name": "mig", "namespace": "gpu-operator"}
    if owners is not None:
        meta["annotations"] = {f"mig-configs.aiplane.dev/{s}": v for s, v in owners.items()}
    if rv:
        meta["resourceVersion"] = rv
    text = yaml.safe_dump({"version": "v1", "mig-configs": entries}, sort_keys=True)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
            "data": {"config.yaml": text}}  # fmt: skip


def entries_of(body: Any) -> dict[str, Any]:
    return dict(yaml.safe_load(body["data"]["config.yaml"])["mig-configs"])


OFF = [{"devices": "all", "mig-enabled": False}]
A1 = [{"devices": [0], "mig-enabled": True, "mig-devices": {"1g.10gb": 7}}]
B1 = [{"devices": "all", "mig-enabled": True, "mig-devices": {"3g.40gb": 2}}]


def test_merge_keeps_other_stacks_entries_and_records_its_own() -> None:
    live = doc_cm({"all-disabled": OFF, "b-pool": B1, "hand-made": A1},
                  {"b": "all-disabled,b-pool"}, rv="7")  # fmt: skip
    merged = merge_into(SPEC, doc_cm({"all-disabled": OFF, "a-pool": A1}), live, "a")
    assert not merged.conflicts
    assert entries_of(merged.body) == {"all-disabled": OFF, "a-pool": A1, "b-pool": B1,
                                       "hand-made": A1}  # fmt: skip
    assert merged.body["metadata"]["annotations"]["mig-configs.aiplane.dev/a"] == (
        "a-pool,all-disabled"
    )
    assert merged.others == ("b",)
    assert with_precondition(merged.body, live)["metadata"]["resourceVersion"] == "7"


def test_merge_replaces_and_drops_only_this_stacks_entries() -> None:
    live = doc_cm({"all-disabled": OFF, "a-old": A1, "a-pool": A1, "b-pool": B1},
                  {"a": "a-old,a-pool,all-disabled", "b": "all-disabled,b-pool"})  # fmt: skip
    merged = merge_into(SPEC, doc_cm({"all-disabled": OFF, "a-pool": B1}), live, "a")
    assert entries_of(merged.body) == {"all-disabled": OFF, "a-pool": B1, "b-pool": B1}


def test_an_entry_another_stack_set_differently_is_a_named_conflict() -> None:
    live = doc_cm({"shared": B1}, {"b": "shared"})
    merged = merge_into(SPEC, doc_cm({"shared": A1}), live, "a")
    assert merged.conflicts == ("mig-configs entry shared is set by stack b with other content",)
    same = merge_into(SPEC, doc_cm({"shared": B1}), live, "a")
    assert not same.conflicts  # equal content is simply shared
    hand = merge_into(SPEC, doc_cm({"x": A1}), doc_cm({"x": B1}, {}), "a")
    assert hand.conflicts == ("mig-configs entry x is set by someone outside aiplane with other "
                              "content",)  # fmt: skip


def test_release_takes_out_only_what_no_other_stack_holds() -> None:
    live = doc_cm({"all-disabled": OFF, "a-pool": A1, "b-pool": B1},
                  {"a": "a-pool,all-disabled", "b": "all-disabled,b-pool"})  # fmt: skip
    released = release_from(SPEC, live, "a")
    assert entries_of(released.body) == {"all-disabled": OFF, "b-pool": B1}
    assert "annotations" not in released.body["metadata"]  # its own annotation is released
    assert released.others == ("b",)
    assert removed_entries(SPEC, live, "a") == ["a-pool"]
    last = release_from(SPEC, doc_cm({"all-disabled": OFF, "b-pool": B1},
                                     {"b": "all-disabled,b-pool"}), "b")  # fmt: skip
    assert last.others == ()


def test_a_bad_merge_annotation_or_document_is_refused() -> None:
    with pytest.raises(AiplaneError, match="not KEY:MAP"):
        MergeSpec.parse("config.yaml")
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m"},
           "data": {"config.yaml": "mig-configs: [1, 2]"}}  # fmt: skip
    with pytest.raises(
        AiplaneError, match=r"ConfigMap/gpu-operator/mig: data\.config\.yaml has no map"
    ):
        merge_into(SPEC, doc_cm({}), bad, "a")


def test_prepare_splits_create_defaults_and_drops_render_marks() -> None:
    policy = {
        "apiVersion": "nvidia.com/v1", "kind": "ClusterPolicy",
        "metadata": {"name": "cluster-policy", "annotations": {
            "aiplane.dev/ownership": "fields",
            "aiplane.dev/create-defaults": "spec.driver,spec.devicePlugin.enabled"},
            "labels": {"app.kubernetes.io/managed-by": "aiplane"}},
        "spec": {"driver": {"enabled": True}, "devicePlugin": {"enabled": True},
                 "mig": {"strategy": "mixed"}},
    }  # fmt: skip
    (d,) = prepare([policy], applyset=ApplySet("a", "aiplane-system"), default_namespace="x",
                   scope=lambda api, kind: False)  # fmt: skip
    assert d.configured and d.merge is None
    assert d.body == {"apiVersion": "nvidia.com/v1", "kind": "ClusterPolicy",
                      "metadata": {"name": "cluster-policy"},
                      "spec": {"mig": {"strategy": "mixed"}}}  # fmt: skip
    assert d.create_defaults is not None
    assert d.create_defaults["spec"] == {"driver": {"enabled": True},
                                         "devicePlugin": {"enabled": True}}  # fmt: skip
    assert d.create_body["spec"] == policy["spec"]


def _render(name: str) -> StackOutput:
    from aiplane.check import load_and_check
    from aiplane.render import render_with_warnings

    loaded = load_and_check(str(REPO / "stacks" / name))
    rendered, _ = render_with_warnings(loaded)
    return StackOutput.split(loaded.stack.metadata.name, name, rendered)


def _gpu_only(out: StackOutput) -> StackOutput:
    out.objects = [o for o in out.objects if o["kind"] in ("ClusterPolicy", "ConfigMap")
                   and o["metadata"].get("namespace") in (None, "gpu-operator")]  # fmt: skip
    return out


def test_render_of_two_stacks_combines_the_shared_gpu_objects() -> None:
    seed, production = _gpu_only(_render("seed.yaml")), _gpu_only(_render("production.yaml"))
    mig_names = {
        o["metadata"]["name"]: entries_of(o) for o in [*seed.objects, *production.objects]
        if o["metadata"]["name"] == "aiplane-mig-parted-config"
    }  # fmt: skip
    assert mig_names  # both stacks have MIG pools
    own = [set(entries_of(o)) for out in (seed, production) for o in out.objects
           if o["metadata"]["name"] == "aiplane-mig-parted-config"]  # fmt: skip
    refuse_conflicts([seed, production])
    for out in (seed, production):
        (mig,) = [o for o in out.objects if o["metadata"]["name"] == "aiplane-mig-parted-config"]
        assert set(entries_of(mig)) == own[0] | own[1]  # every stack's entries in each copy
    policies = [
        o for out in (seed, production) for o in out.objects if o["kind"] == "ClusterPolicy"
    ]
    assert policies[0] == policies[1]


def test_render_of_two_stacks_refuses_a_clashing_shared_field() -> None:
    seed, production = _gpu_only(_render("seed.yaml")), _gpu_only(_render("production.yaml"))
    for obj in production.objects:
        if obj["kind"] == "ClusterPolicy":
            obj["spec"]["mig"]["strategy"] = "single"
    with pytest.raises(AiplaneError) as info:
        refuse_conflicts([seed, production])
    assert "ClusterPolicy/cluster-policy: field spec.mig.strategy is set differently by stack " \
        "seed and stack production" in str(info.value.diagnostics[0])  # fmt: skip


def _node(labels: dict[str, str], owners: dict[str, list[str]]) -> Any:
    return {"metadata": {"name": "n1", "labels": labels, "managedFields": [
        {"manager": m, "operation": "Apply",
         "fieldsV1": {"f:metadata": {"f:labels": {f"f:{k}": {} for k in keys}}}}
        for m, keys in owners.items()]}}  # fmt: skip


def test_a_node_label_another_stack_set_differently_is_named() -> None:
    node = _node({"nvidia.com/mig.config": "b-pool", "team": "x"},
                 {"aiplane-stack-b": ["nvidia.com/mig.config"], "kubectl": ["team"]})  # fmt: skip
    mine = "aiplane-stack-a"
    assert conflicts(node, {"nvidia.com/mig.config": "a-pool"}, mine) == [
        "label nvidia.com/mig.config on node n1 is set to b-pool by stack b"
    ]
    assert conflicts(node, {"nvidia.com/mig.config": "b-pool"}, mine) == []  # same value: shared
    assert conflicts(node, {"team": "y"}, mine) == []  # a person's label: the plan shows the diff


def test_releasing_a_stacks_labels_is_node_disruptive_for_the_mig_config() -> None:
    node = _node({"nvidia.com/mig.config": "a-pool", "x": "1"},
                 {"aiplane-stack-a": ["nvidia.com/mig.config", "x"]})  # fmt: skip
    change = release_change(release_address("n1"), node, "aiplane-stack-a")
    assert change.action == "delete"
    assert [(d.path, d.before, d.after) for d in change.diffs] == [
        ("nodes[n1].labels.nvidia.com/mig.config", "a-pool", None),
        ("nodes[n1].labels.x", "1", None),
    ]
    assert change.disruption == "node-disruptive"
    assert classify("delete", change.diffs[1:]) == "in-place"


def test_plan_labels_refuses_a_conflict() -> None:
    from aiplane.providers.base import Resource
    from aiplane.providers.nodelabels import plan_labels

    node = _node(
        {"nvidia.com/mig.config": "b-pool"}, {"aiplane-stack-b": ["nvidia.com/mig.config"]}
    )
    body = {"spec": {"nodeSelector": {"pool": "x"}, "labels": {"nvidia.com/mig.config": "a"}}}
    r = Resource(release_address("x"), body, "", "", "d")
    with pytest.raises(PlanError, match="is set to b-pool by stack b"):
        plan_labels(r.address, r, [node], "aiplane-stack-a")


def test_a_document_an_earlier_version_wrote_whole_is_claimed_by_its_stack() -> None:
    legacy = doc_cm({"all-disabled": OFF, "a-pool": A1, "a-old": A1})  # no entry records at all
    wanted = doc_cm({"all-disabled": OFF, "a-pool": B1})
    assert merge_into(SPEC, wanted, legacy, "a").conflicts  # without the claim: someone else's
    merged = merge_into(SPEC, wanted, legacy, "a", claim_unrecorded=True)
    assert not merged.conflicts
    assert entries_of(merged.body) == {"all-disabled": OFF, "a-pool": B1}
