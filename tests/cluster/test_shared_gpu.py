"""Two example stacks share one GPU cluster (issue 11, point 3), on the real local control plane.

The GPU configuration of ``stacks/seed.yaml`` and ``stacks/production.yaml``, as rendered
(ClusterPolicy, the mig-parted and device-plugin ConfigMaps, node labels), is applied by two
stacks to one cluster: both apply, both plan empty, and removing one leaves the other's GPU
configuration whole, down to its MIG configs, device-plugin keys and node labels. The stacks'
other objects are left out: their PriorityClasses clash by design (the same names with other
values), which `render` and `plan` report (tests/unit/test_shared_gpu_config.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_plan_apply import Cli, ok

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
NO_WAIT = {"AIPLANE_NO_WAIT": "1"}  # no GPU Operator runs here to make anything ready
MIG_CM, PLUGIN_CM = "aiplane-mig-parted-config", "aiplane-device-plugin-config"
MIG = "nvidia.com/mig.config"


@pytest.fixture
def cli(kubeconfig: Path, tmp_path: Path) -> Cli:
    return Cli(kubeconfig, tmp_path)


@pytest.fixture(autouse=True)
def gpu_operator(kubectl: Any) -> Iterator[None]:
    """The GPU Operator's namespace exists (the stacks write into it); the shared GPU objects
    are gone after each test, whatever it left."""
    kubectl("create", "namespace", "gpu-operator", check=False)
    yield
    kubectl("delete", "clusterpolicy", "cluster-policy", "--ignore-not-found")
    kubectl("-n", "gpu-operator", "delete", "configmap", MIG_CM, PLUGIN_CM, "--ignore-not-found")


def gpu_config(example: str) -> list[dict[str, Any]]:
    """The example stack's GPU Operator objects and node labels, as aiplane renders them."""
    from aiplane.commands.stackfile import render_file

    _stack, items = render_file(str(REPO / "stacks" / example))
    return [
        m for m in items
        if m["kind"] in ("ClusterPolicy", "NodeLabels")
        or (m["kind"] == "ConfigMap" and m["metadata"].get("namespace") == "gpu-operator")
    ]  # fmt: skip


def get(kubectl: Any, *args: str) -> dict[str, Any]:
    res = kubectl("get", *args, "-o", "json", "--show-managed-fields", check=False)
    return json.loads(res.stdout) if res.returncode == 0 else {}


def mig_entries(kubectl: Any) -> set[str]:
    cm = get(kubectl, "configmap", "-n", "gpu-operator", MIG_CM)
    return set(yaml.safe_load(cm["data"]["config.yaml"])["mig-configs"]) if cm else set()


def plugin_keys(kubectl: Any) -> set[str]:
    return set(get(kubectl, "configmap", "-n", "gpu-operator", PLUGIN_CM).get("data") or {})


def node_label(kubectl: Any, node: str) -> str | None:
    labels: dict[str, str] = get(kubectl, "node", node)["metadata"].get("labels") or {}
    return labels.get(MIG)


def apply(cli: Cli, file: str, *extra: str) -> str:
    return ok(cli.run("apply", file, "--yes", "--allow-disruption", *extra, env=NO_WAIT))


def test_two_example_stacks_share_the_gpu_cluster(
    cli: Cli, namespace: str, kubectl: Any, gpu_nodes: Any
) -> None:
    (seed_node,) = gpu_nodes("A100-80GB", 1, labels={"node.kubernetes.io/instance-type":
                                                     "a2-ultragpu-2g"})  # fmt: skip
    (prod_node,) = gpu_nodes("A100-80GB", 1, labels={"node.kubernetes.io/instance-type":
                                                     "p4de.24xlarge"})  # fmt: skip
    base = namespace[:40].rstrip("-")
    seed, prod = f"{base}-seed", f"{base}-prod"
    seed_file = cli.write(seed, gpu_config("seed.yaml"), "seed.json")
    prod_file = cli.write(prod, gpu_config("production.yaml"), "prod.json")
    apply(cli, seed_file)
    apply(cli, prod_file)
    for file in (seed_file, prod_file):
        res = cli.run("plan", file, "--detailed-exitcode")
        assert res.returncode == 0, res.stdout + res.stderr
    assert {"all-disabled", "seed-a100", "aiplane-a100-mig"} <= mig_entries(kubectl)
    assert {"inference-sharing", "small-models", "aiplane-default"} <= plugin_keys(kubectl)
    assert node_label(kubectl, seed_node) == "seed-a100"
    assert node_label(kubectl, prod_node) == "aiplane-a100-mig"
    policy = get(kubectl, "clusterpolicy", "cluster-policy")
    managers = {e["manager"] for e in policy["metadata"]["managedFields"]}
    assert {f"aiplane-stack-{seed}", f"aiplane-stack-{prod}", "aiplane-defaults"} <= managers
    assert "labels" not in policy["metadata"]  # neither stack claims the whole object

    # The seed stack goes: its MIG config, device-plugin key and node labels with it; the
    # production stack's GPU configuration stays whole and still plans empty.
    prod_entries = mig_entries(kubectl) - {"seed-a100"}
    out = apply(cli, cli.write(seed, [], "seed-empty.json"), "--allow-delete")
    assert "releases this stack's mig-configs entries (seed-a100)" in " ".join(out.split())
    assert mig_entries(kubectl) == prod_entries
    assert "inference-sharing" not in plugin_keys(kubectl)
    assert {"small-models", "aiplane-default"} <= plugin_keys(kubectl)
    assert node_label(kubectl, seed_node) is None
    assert node_label(kubectl, prod_node) == "aiplane-a100-mig"
    policy = get(kubectl, "clusterpolicy", "cluster-policy")
    assert policy["spec"]["mig"]["strategy"] == "mixed"
    assert policy["spec"]["migManager"]["config"]["name"] == MIG_CM
    res = cli.run("plan", prod_file, "--detailed-exitcode")
    assert res.returncode == 0, res.stdout + res.stderr

    # The last stack goes: nobody else holds any part of the shared objects, so they go.
    apply(cli, cli.write(prod, [], "prod-empty.json"), "--allow-delete")
    assert not get(kubectl, "configmap", "-n", "gpu-operator", MIG_CM)
    assert not get(kubectl, "configmap", "-n", "gpu-operator", PLUGIN_CM)
    assert not get(kubectl, "clusterpolicy", "cluster-policy")
    assert node_label(kubectl, prod_node) is None


def test_a_second_stack_asking_for_another_mig_config_on_a_node_is_refused(
    cli: Cli, namespace: str, kubectl: Any, gpu_nodes: Any
) -> None:
    (node,) = gpu_nodes("A100-80GB", 1, labels={"node.kubernetes.io/instance-type":
                                                "a2-ultragpu-2g"})  # fmt: skip
    base = namespace[:40].rstrip("-")
    first, second = f"{base}-one", f"{base}-two"
    items = gpu_config("seed.yaml")
    apply(cli, cli.write(first, items, "one.json"))
    other = json.loads(json.dumps(items))
    for m in other:
        if m["kind"] == "NodeLabels":
            m["spec"]["labels"][MIG] = "all-disabled"
    res = cli.run("plan", cli.write(second, other, "two.json"), "--detailed-exitcode")
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode == 1, out
    assert f"label {MIG} on node {node} is set to seed-a100 by stack {first}" in out
    assert node_label(kubectl, node) == "seed-a100"
    apply(cli, cli.write(first, [], "one-empty.json"), "--allow-delete")


def test_a_rendered_policy_joins_a_helm_installed_one_without_touching_its_values(
    cli: Cli, namespace: str, kubectl: Any
) -> None:
    """On a cluster whose GPU Operator Helm installed (drivers preinstalled: driver.enabled
    false, DCGM on), the stack sets only what it means: MIG and the device-plugin config. The
    values the schema requires (create-only defaults) are never sent to an existing policy."""
    from test_plan_apply_support import _sample_policy_spec

    spec = _sample_policy_spec()
    spec["driver"]["enabled"], spec["dcgm"]["enabled"] = False, True
    spec["mig"] = {"strategy": "mixed"}
    spec["migManager"].pop("config", None)
    spec["devicePlugin"].pop("config", None)
    helm = {"apiVersion": "nvidia.com/v1", "kind": "ClusterPolicy",
            "metadata": {"name": "cluster-policy", "labels": {"app.kubernetes.io/managed-by": "Helm"},
                         "annotations": {"meta.helm.sh/release-name": "gpu-operator"}},
            "spec": spec}  # fmt: skip
    kubectl("apply", "--server-side", "--field-manager=helm", "-f", "-", input=json.dumps(helm))
    stack = f"{namespace[:40].rstrip('-')}-seed"
    file = cli.write(stack, gpu_config("seed.yaml"), "seed.json")
    apply(cli, file)
    res = cli.run("plan", file, "--detailed-exitcode")
    assert res.returncode == 0, res.stdout + res.stderr
    live = get(kubectl, "clusterpolicy", "cluster-policy")
    assert live["spec"]["driver"]["enabled"] is False and live["spec"]["dcgm"]["enabled"]
    assert live["spec"]["migManager"]["config"]["name"] == MIG_CM
    assert live["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "Helm"}
    assert "aiplane-defaults" not in {e["manager"] for e in live["metadata"]["managedFields"]}

    apply(cli, cli.write(stack, [], "seed-empty.json"), "--allow-delete")
    live = get(kubectl, "clusterpolicy", "cluster-policy")
    assert live, "Helm's ClusterPolicy must stay"
    assert "config" not in live["spec"]["migManager"]  # the stack's fields are released
    assert live["spec"]["driver"]["enabled"] is False and live["spec"]["mig"]["strategy"] == "mixed"


def test_apply_does_not_wait_for_a_policy_no_operator_reconciles(
    cli: Cli, namespace: str, kubectl: Any
) -> None:
    stack = f"{namespace[:40].rstrip('-')}-lone"
    policy = [m for m in gpu_config("laptop.yaml") if m["kind"] == "ClusterPolicy"]
    file = cli.write(stack, policy, "lone.json")
    out = " ".join(ok(cli.run("plan", file, "--detailed-exitcode"), 2).split())
    assert "no GPU Operator runs in namespace gpu-operator" in out
    started = time.monotonic()
    res = cli.run("apply", file, "--yes", env={"AIPLANE_HEALTH_TIMEOUT": "900"})
    elapsed = time.monotonic() - started
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode == 0, out
    assert "ClusterPolicy: not waiting: no GPU Operator runs" in out
    assert elapsed < 120, f"apply waited {elapsed:.0f} s for a policy nothing reconciles"
    apply(cli, cli.write(stack, [], "lone-empty.json"), "--allow-delete")


def test_a_shared_priority_class_changes_value_only_when_no_other_stack_holds_it(
    cli: Cli, namespace: str, kubectl: Any
) -> None:
    name = f"{namespace[:40].rstrip('-')}-prio"

    def klass(value: int) -> dict[str, Any]:
        return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": name, "annotations": {"aiplane.dev/ownership": "fields"}},
                "value": value, "preemptionPolicy": "Never"}  # fmt: skip

    first, second = f"{name}-a", f"{name}-b"
    try:
        apply(cli, cli.write(first, [klass(10)], "a.json"))
        apply(cli, cli.write(second, [klass(10)], "b.json"))
        res = cli.run("plan", cli.write(second, [klass(20)], "b2.json"), "--detailed-exitcode")
        out = " ".join((res.stdout + res.stderr).split())
        assert res.returncode == 1, out
        assert f"cannot be replaced while stack {first} also set(s) it" in out
        apply(cli, cli.write(first, [], "a-empty.json"), "--allow-delete")
        assert get(kubectl, "priorityclass", name)["value"] == 10  # the other stack holds it
        apply(cli, cli.write(second, [klass(20)], "b3.json"), "--allow-delete")
        assert get(kubectl, "priorityclass", name)["value"] == 20  # replaced: its only holder
    finally:
        kubectl("delete", "priorityclass", name, "--ignore-not-found")
