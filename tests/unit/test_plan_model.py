"""The plan value: JSON round-trip, gates, exit codes, ApplySet id, disruption classes."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from aiplane.commands.cluster import EXIT_BLOCKED, EXIT_CHANGES, EXIT_OK
from aiplane.commands.plan import plan_exit
from aiplane.errors import AiplaneError
from aiplane.plan.model import Change, DriftNote, Pin, Plan
from aiplane.providers.kubernetes.applyset import ApplySet, ForeignApplySet, applyset_id
from aiplane.providers.kubernetes.diff import FieldDiff
from aiplane.providers.kubernetes.kinds import (
    collection_immutable_reason,
    disruption_of,
    immutable_reason,
    stage_of,
)
from aiplane.providers.kubernetes.objects import ObjectRef
from aiplane.providers.nodelabels import NodeLabelsProvider, classify

DEPLOY = ObjectRef("apps/v1", "Deployment", "ml", "llama")
NODES = ObjectRef("aiplane.dev/v1alpha1", "NodeLabels", "", "a100")


def make_plan(*changes: Change) -> Plan:
    return Plan(
        stack="seed",
        stack_file="stacks/seed.yaml",
        stack_digest="d" * 64,
        mode="cluster",
        target="context test",
        state_id=ApplySet("seed", "aiplane-system").id,
        plan_id="p1",
        created="2026-11-27T10:00:00Z",
        changes=changes,
        warnings=("w",),
        lock_holder="me plan p1",
    )


def test_json_round_trip_is_exact() -> None:
    plan = make_plan(
        Change("update", DEPLOY.address, "1 field(s) change", "rolling-restart",
               (FieldDiff("spec.template.spec.containers[name=vllm].image", "a", "b"),),
               Pin("12", "f" * 64, "uid-1"), "stacks/seed.yaml#L42", "model llama v2.1",
               "e" * 64, False, (DriftNote("spec.replicas", "HorizontalPodAutoscaler"),)),
        Change("create", ObjectRef("v1", "ConfigMap", "ml", "c").address, "new", estimate=True),
        Change("noop", ObjectRef("v1", "Service", "ml", "s").address, pin=Pin("3")),
    )  # fmt: skip
    text = plan.dumps()
    doc = json.loads(text)
    assert doc["format_version"] == 2
    assert doc["summary"]["update"] == 1 and doc["summary"]["has_changes"] is True
    assert doc["changes"][1]["pin"] is None  # absence is pinned too
    assert Plan.loads(text) == plan


def test_unknown_format_version_is_refused() -> None:
    doc = make_plan().to_json()
    doc["format_version"] = 99
    with pytest.raises(AiplaneError, match="format_version 99"):
        Plan.from_json(doc)
    with pytest.raises(AiplaneError, match="not valid JSON"):
        Plan.loads("{nope")


def test_gates_and_exit_codes() -> None:
    quiet = make_plan(Change("noop", DEPLOY.address), Change("drift-expected", DEPLOY.address))
    assert not quiet.has_changes
    assert plan_exit(quiet, [], detailed=True) == EXIT_OK
    update = make_plan(Change("update", DEPLOY.address, disruption="rolling-restart"))
    assert plan_exit(update, [], detailed=True) == EXIT_CHANGES
    assert plan_exit(update, [], detailed=False) == EXIT_OK
    risky = make_plan(
        Change("update", NODES.address, disruption="node-disruptive"),
        Change("delete", ObjectRef("v1", "Service", "ml", "old").address),
        Change("replace", ObjectRef("v1", "ConfigMap", "ml", "aiplane-collection-docs").address),
    )
    gates = risky.gates(allow_disruption=False, allow_delete=False)
    assert [(str(g.address), g.flag) for g in gates] == [
        ("NodeLabels/a100", "--allow-disruption"),
        ("Service/ml/old", "--allow-delete"),
        ("ConfigMap/ml/aiplane-collection-docs", "--allow-delete"),
    ]
    assert plan_exit(risky, gates, detailed=True) == EXIT_BLOCKED
    assert risky.gates(allow_disruption=True, allow_delete=True) == []


def test_applyset_id_follows_the_kep_formula() -> None:
    raw = hashlib.sha256(b"applyset-seed.aiplane-system.ConfigMap.").digest()
    expected = "applyset-" + base64.urlsafe_b64encode(raw).decode().rstrip("=") + "-v1"
    aset = ApplySet("seed", "aiplane-system")
    assert aset.id == expected == applyset_id("applyset-seed", "aiplane-system", "ConfigMap", "")
    assert len(aset.id) <= 63 and re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", aset.id)
    assert aset.selector == f"applyset.k8s.io/part-of={aset.id}"


def test_applyset_parent_and_foreign_tooling() -> None:
    aset = ApplySet("seed", "aiplane-system")
    parent = aset.parent(
        ["Deployment.apps", "ConfigMap", "Deployment.apps"], ["ml", "aiplane-system"]
    )
    anns = parent["metadata"]["annotations"]
    assert anns["applyset.k8s.io/contains-group-kinds"] == "ConfigMap,Deployment.apps"
    assert anns["applyset.k8s.io/additional-namespaces"] == "ml"
    assert anns["applyset.k8s.io/tooling"].startswith("aiplane/v")
    assert parent["metadata"]["labels"]["applyset.k8s.io/id"] == aset.id
    aset.check_owner(parent)
    aset.check_owner(None)
    foreign = json.loads(json.dumps(parent))
    foreign["metadata"]["annotations"]["applyset.k8s.io/tooling"] = "kubectl/v1.34"
    with pytest.raises(ForeignApplySet, match=r"owned by 'kubectl/v1\.34'"):
        aset.check_owner(foreign)


def test_disruption_classes() -> None:
    template = (FieldDiff("spec.template.spec.containers[name=vllm].image", "a", "b"),)
    assert disruption_of(DEPLOY, "update", template) == "rolling-restart"
    assert disruption_of(DEPLOY, "update", (FieldDiff("spec.replicas", 1, 2),)) == "in-place"
    assert disruption_of(DEPLOY, "create", template) == "none"
    assert disruption_of(DEPLOY, "replace", template) == "recreate"
    assert disruption_of(DEPLOY, "delete", ()) == "recreate"
    assert disruption_of(ObjectRef("v1", "ConfigMap", "ml", "c"), "delete", ()) == "none"
    mig = (FieldDiff("nodes[n1].labels.nvidia.com/mig.config", "all-1g.10gb", "all-3g.40gb"),)
    assert classify("update", mig) == "node-disruptive"
    other = (FieldDiff("nodes[n1].labels.team", "a", "b"),)
    assert classify("update", other) == "in-place"
    policy = ObjectRef("nvidia.com/v1", "ClusterPolicy", "", "gpu")
    driver = (FieldDiff("spec.driver.version", "550", "580"),)
    assert disruption_of(policy, "update", driver) == "node-disruptive"


def test_immutable_fields_make_a_replace() -> None:
    selector = [FieldDiff("spec.selector.matchLabels.app", "a", "b")]
    assert (
        immutable_reason(DEPLOY, {}, {}, selector) == "spec.selector.matchLabels.app is immutable"
    )
    assert immutable_reason(DEPLOY, {}, {}, [FieldDiff("spec.replicas", 1, 2)]) == ""
    job = ObjectRef("batch/v1", "Job", "ml", "j")
    assert immutable_reason(job, {}, {}, [FieldDiff("spec.template.spec.x", 1, 2)])
    svc = ObjectRef("v1", "Service", "ml", "s")
    assert immutable_reason(svc, {}, {}, [FieldDiff("spec.clusterIP", "10.0.0.1", "10.0.0.2")])
    assert not immutable_reason(svc, {}, {}, [FieldDiff("spec.clusterIP", "10.0.0.1", None)])


def collection(size: int, distance: str = "Cosine") -> dict:  # type: ignore[type-arg]
    body = {"vectors": {"size": size, "distance": distance}, "shard_number": 1}
    return {
        "metadata": {"annotations": {
            "aiplane.dev/immutable-fields": "vectors.size,vectors.distance,shard_number"}},
        "data": {"collection.json": json.dumps(body)},
    }  # fmt: skip


def test_collection_immutable_fields() -> None:
    reason = collection_immutable_reason(collection(1024), collection(768))
    assert reason == "vectors.size 768 -> 1024 is immutable (the collection is recreated)"
    assert "vectors.distance" in collection_immutable_reason(
        collection(768, "Dot"), collection(768)
    )
    assert collection_immutable_reason(collection(768), collection(768)) == ""
    assert collection_immutable_reason({"data": {}}, collection(768)) == ""


def test_apply_stages_order() -> None:
    order = ["CustomResourceDefinition", "PriorityClass", "Deployment", "HTTPRoute",
             "WorkflowTemplate"]  # fmt: skip
    stages = [stage_of(ObjectRef("x/v1", k, "", "n")) for k in order]
    assert stages == sorted(stages) == [0, 1, 2, 3, 4]
    assert stage_of(ObjectRef("v1", "Namespace", "", "ml")) == 0
    assert NodeLabelsProvider.stage(None, NODES.address) == "cluster-config"  # type: ignore[arg-type]
