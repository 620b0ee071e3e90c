"""Preflight, ownership and health-gate rules (pure parts; the cluster tests drive them live)."""

from __future__ import annotations

from typing import Any

from aiplane.plan.address import Address
from aiplane.plan.model import Change, gates_of
from aiplane.providers.kubernetes.health_gate import not_ready
from aiplane.providers.kubernetes.kinds import disruption_of
from aiplane.providers.kubernetes.objects import ObjectRef
from aiplane.providers.kubernetes.ownership import (
    conflict_message,
    current_manager,
    other_managers,
    release_body,
    unowned_note,
    without_ownership_labels,
)
from aiplane.providers.kubernetes.preflight import preflight


def test_preflight_lists_every_missing_api_and_namespace_once():
    refs = [
        ("gateway.envoyproxy.io/v1alpha1", "Backend", "ml", "s.yaml#L7"),
        ("gateway.envoyproxy.io/v1alpha1", "BackendTrafficPolicy", "ml", "s.yaml#L9"),
        ("example.com/v1", "Widget", "ml", "s.yaml#L11"),
        ("t.example.com/v1", "Gadget", "ml", "s.yaml#L12"),  # its CRD is in the stack
        ("v1", "ConfigMap", "gpu-operator", "s.yaml#L3"),
        ("v1", "ConfigMap", "new-ns", "s.yaml#L4"),  # the stack creates it
        ("apps/v1", "Deployment", "ml", "s.yaml#L5"),
    ]
    found = preflight(
        refs,
        served=lambda api, kind: api in ("v1", "apps/v1"),
        crds={("t.example.com", "Gadget"): True},
        created_namespaces={"new-ns"},
        namespace_exists=lambda ns: ns == "ml",
    )
    lines = [d.format() for d in found]
    assert lines == [
        "s.yaml:7:1: API gateway.envoyproxy.io/v1alpha1 (Backend, BackendTrafficPolicy) is not "
        "served: install Envoy Gateway v1.8 (its CRDs)",
        "s.yaml:11:1: API example.com/v1 (Widget) is not served: install a CRD for example.com",
        "s.yaml:3:1: the NVIDIA GPU Operator is not installed: namespace gpu-operator does not "
        "exist",
    ]


def test_preflight_passes_a_cluster_that_serves_everything():
    refs = [("v1", "ConfigMap", "ml", "")]
    assert not preflight(refs, served=lambda a, k: True, crds={}, created_namespaces=set(),
                         namespace_exists=lambda ns: True)  # fmt: skip


def obj(labels: dict[str, str] | None = None, anns: dict[str, str] | None = None,
        managers: list[dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    meta = {"name": "x", "labels": labels or {}, "annotations": anns or {},
            "managedFields": managers or []}  # fmt: skip
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


def test_current_manager_names_the_most_specific_owner():
    helm = {"meta.helm.sh/release-name": "gpu-operator",
            "meta.helm.sh/release-namespace": "gpu-operator"}  # fmt: skip
    assert current_manager(obj(anns=helm)) == "Helm release gpu-operator/gpu-operator"
    assert current_manager(obj({"app.kubernetes.io/managed-by": "Helm"})) == "Helm"
    assert current_manager(obj({"aiplane.dev/stack": "seed"})) == "stack seed"
    assert current_manager(obj({"app.kubernetes.io/managed-by": "argocd"})) == "argocd"
    fields = [{"manager": "kubectl-create"}, {"manager": "aiplane-stack-team-a"}]
    assert current_manager(obj(managers=fields)) == (
        "field manager(s) kubectl-create, stack team-a"
    )
    assert current_manager(obj()) == "no recorded manager"


def test_conflict_message_names_field_and_owner():
    causes = ['.spec.mig.strategy: conflict with "aiplane-stack-seed" using nvidia.com/v1',
              '.spec.driver.enabled: conflict with "helm" using nvidia.com/v1']  # fmt: skip
    assert conflict_message("Apply failed", causes) == (
        "field spec.mig.strategy is set by stack seed; field spec.driver.enabled is set by helm"
    )
    assert "conflicts with another field manager" in conflict_message("Apply failed", [])


def test_other_managers_ignore_status_writers_and_self():
    fields = [{"manager": "aiplane-stack-a"}, {"manager": "gpu-operator", "subresource": "status"},
              {"manager": "helm"}]  # fmt: skip
    assert other_managers(obj(managers=fields), "aiplane-stack-a") == ["helm"]
    assert other_managers(obj(managers=fields[:2]), "aiplane-stack-a") == []


def test_configured_body_carries_no_ownership_labels():
    body = obj({"app.kubernetes.io/managed-by": "aiplane", "aiplane.dev/stack": "s",
                "applyset.k8s.io/part-of": "applyset-x", "team": "ml"})  # fmt: skip
    assert without_ownership_labels(body)["metadata"]["labels"] == {"team": "ml"}
    assert "labels" not in without_ownership_labels(obj({"aiplane.dev/stack": "s"}))["metadata"]
    assert release_body(body) == {"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": {"name": "x"}}  # fmt: skip


def test_unowned_note_lists_what_a_namespace_delete_would_take():
    mine = {
        "kind": "ConfigMap",
        "metadata": {"name": "a", "namespace": "n", "labels": {"applyset.k8s.io/part-of": "me"}},
    }
    built_in = {"kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "namespace": "n"}}
    hand = {"kind": "Secret", "metadata": {"name": "token", "namespace": "n"}}
    assert unowned_note([mine, built_in, hand], "me") == "; not owned by this stack: Secret/n/token"
    assert unowned_note([mine, built_in], "me") == ""


def test_namespace_deletion_has_its_own_class_and_gate():
    ref = ObjectRef("v1", "Namespace", "", "team-a")
    assert disruption_of(ref, "delete", ()) == "namespace"
    change = Change("delete", ref.address, "no longer in the stack", "namespace")
    flags = [g.flag for g in gates_of([change], allow_disruption=True, allow_delete=True)]
    assert flags == ["--allow-namespace-delete"]
    assert not gates_of([change], allow_disruption=False, allow_delete=True,
                        allow_namespace_delete=True)  # fmt: skip


def test_not_ready_says_why_and_since_when():
    ref = ObjectRef("apps/v1", "Deployment", "ml", "llama")
    pending = {
        "metadata": {"name": "llama", "generation": 2},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 0,
                   "conditions": [{"type": "Progressing",
                                   "lastTransitionTime": "2026-12-06T14:02:11Z"}]},
    }  # fmt: skip
    assert not_ready(ref, pending) == (
        "Deployment/ml/llama: 0/1 ready, 0 updated since 14:02 UTC, rollout incomplete"
    )
    ready = {**pending, "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1,
                                   "readyReplicas": 1}}  # fmt: skip
    assert not_ready(ref, ready) == ""
    assert not_ready(ref, None) == "Deployment/ml/llama: not found"
    assert isinstance(ref.address, Address)
