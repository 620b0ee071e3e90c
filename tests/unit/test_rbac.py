"""Permissions derived from rendered manifests (``aiplane rbac`` and the access preflight)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from aiplane.providers.kubernetes.rbac import Permission, plural, required, roles

REPO = Path(__file__).resolve().parents[2]


def _m(api_version: str, kind: str, ns: str | None = None) -> dict[str, object]:
    meta: dict[str, str] = {"name": "x"}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


def test_plurals() -> None:
    assert [plural(k) for k in ("Deployment", "PriorityClass", "ClusterPolicy", "Ingress",
                                "Gateway", "Endpoints", "NetworkPolicy")] == [
        "deployments", "priorityclasses", "clusterpolicies", "ingresses", "gateways",
        "endpoints", "networkpolicies"]  # fmt: skip


def test_reads_and_writes_stay_in_the_stack_namespaces() -> None:
    manifests = [_m("apps/v1", "Deployment", "a"), _m("v1", "ConfigMap", "b"),
                 _m("scheduling.k8s.io/v1", "PriorityClass"),
                 _m("aiplane.dev/v1alpha1", "NodeLabels")]  # fmt: skip
    plan = required(manifests, "plan", system_namespace="sys")
    assert Permission("a", "apps", "deployments", "list") in plan
    assert Permission("b", "apps", "deployments", "patch") in plan  # kinds x namespaces
    assert Permission("", "scheduling.k8s.io", "priorityclasses", "create") in plan
    assert Permission("", "", "nodes", "patch") in plan
    assert not any(p.verb == "delete" for p in plan)
    assert not any(p.resource == "deployments" and not p.namespace for p in plan)
    assert all(p.resource != "nodelabels" for p in plan)
    apply = required(manifests, "apply", system_namespace="sys")
    assert set(plan) < set(apply)
    assert Permission("a", "apps", "deployments", "delete") in apply
    assert Permission("sys", "coordination.k8s.io", "leases", "update") in apply
    assert Permission("", "", "namespaces", "get", "sys") in apply


def test_discovery_overrides_the_guess() -> None:
    perms = required([_m("example.com/v1", "Octopus", "a")], "plan", system_namespace="s",
                     resolve=lambda av, k: ("octopi", True))  # fmt: skip
    assert Permission("a", "example.com", "octopi", "get") in perms


def test_missing_text() -> None:
    assert Permission("ai", "apps", "deployments", "patch").missing_text() == (
        "cannot patch deployments.apps in ai"
    )
    assert Permission("", "", "nodes", "list").missing_text() == "cannot list nodes cluster-wide"


def test_roles_group_rules_by_namespace() -> None:
    docs = roles([Permission("a", "apps", "deployments", v) for v in ("get", "list")]
                 + [Permission("", "", "nodes", "get")], "aiplane-s")  # fmt: skip
    assert [(d["kind"], d["metadata"].get("namespace")) for d in docs] == [
        ("ClusterRole", None), ("Role", "a")]  # fmt: skip
    assert docs[1]["rules"] == [{"apiGroups": ["apps"], "resources": ["deployments"],
                                 "verbs": ["get", "list"]}]  # fmt: skip


def test_rbac_command_prints_the_seed_roles() -> None:
    res = subprocess.run([sys.executable, "-m", "aiplane", "rbac", "stacks/seed.yaml", "--for",
                          "plan", "--service-account", "ci:deployer"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr
    docs = [d for d in yaml.safe_load_all(res.stdout) if d]
    names = {(d["kind"], d["metadata"].get("namespace")) for d in docs}
    assert ("Role", "ai-platform") in names and ("ClusterRole", None) in names
    assert ("RoleBinding", "aiplane-system") in names
    verbs = {v for d in docs if "rules" in d for r in d["rules"] for v in r["verbs"]}
    assert "delete" not in verbs and {"get", "list", "patch", "create"} <= verbs
    bad = subprocess.run([sys.executable, "-m", "aiplane", "rbac", "stacks/seed.yaml",
                          "--service-account", "nocolon"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 1 and "use NAMESPACE:NAME" in bad.stderr
