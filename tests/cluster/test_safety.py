"""An apply that never harms a shared cluster (issue 11): preflight, ownership, shared GPU policy.

Against the real local control plane (see conftest.py). The CLI runs as a subprocess. The test
that needs a cluster without Envoy Gateway deletes its CRDs inside the test and installs them
again from ../shared/crds before it returns, whatever happens (tests share one control plane).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_plan_apply import Cli, ok
from test_plan_apply_support import _sample_policy_spec, stack_manifests


def crds_dir() -> Path:
    """../shared/crds, or $AIPLANE_CRDS_DIR (as tests/cluster/conftest.py installs them)."""
    env = os.environ.get("AIPLANE_CRDS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "crds"


pytestmark = pytest.mark.cluster


@pytest.fixture
def cli(kubeconfig: Path, tmp_path: Path) -> Cli:
    return Cli(kubeconfig, tmp_path)


NO_WAIT = {"AIPLANE_NO_WAIT": "1"}


def flat(text: str) -> str:
    """Output with line wrapping undone (the terminal printer wraps long messages)."""
    return re.sub(r"\s+", " ", text)


def apply(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    """``aiplane apply ARGS --yes`` without health waits."""
    return cli.run("apply", *args, "--yes", env=NO_WAIT)


def contents(kubectl: Any, ns: str) -> list[str]:
    """What lives in a namespace (the kinds a stack writes), by name."""
    res = kubectl("get", "configmap,secret,deployment,service,poddisruptionbudget", "-n", ns,
                  "-o", "name")  # fmt: skip
    return sorted(res.stdout.split())


@contextlib.contextmanager
def without_envoy_gateway(kubectl: Any) -> Iterator[list[str]]:
    """The cluster without Envoy Gateway's CRDs for the duration; installed again after."""
    files = sorted((crds_dir() / "envoy-gateway").glob("*.yaml"))
    names = [yaml.safe_load(f.read_text())["metadata"]["name"] for f in files]
    kubectl("delete", "crd", *names, "--wait=true", timeout=180)
    try:
        yield names
    finally:
        args = [a for f in files for a in ("-f", str(f))]
        kubectl("apply", "--server-side", "--force-conflicts", *args, timeout=180)
        kubectl("wait", "--for=condition=Established", "crd", *names, "--timeout=120s",
                timeout=180)  # fmt: skip


def envoy_objects(ns: str) -> list[dict[str, Any]]:
    backend = {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "Backend",
        "metadata": {"name": "openai", "namespace": ns},
        "spec": {"endpoints": [{"fqdn": {"hostname": "api.openai.com", "port": 443}}]},
    }  # fmt: skip
    policy = {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "BackendTrafficPolicy",
        "metadata": {"name": "retries", "namespace": ns},
        "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
                                 "name": "chat-completions"}]},
    }  # fmt: skip
    return [backend, policy]


def test_missing_crds_fail_plan_and_apply_writes_nothing(cli: Cli, namespace: str, kubectl: Any):
    items = stack_manifests(namespace, namespace, ("a",)) + envoy_objects(namespace)
    file = cli.write(namespace, items)
    saved = str(cli.workdir / "plan.json")
    ok(cli.run("plan", file, "--out", saved, env=NO_WAIT))  # made while Envoy Gateway is there
    before = contents(kubectl, namespace)
    with without_envoy_gateway(kubectl):
        out = flat(ok(cli.plan(file), 1))
        assert (
            "API gateway.envoyproxy.io/v1alpha1 (Backend, BackendTrafficPolicy) is not served: "
            "install Envoy Gateway" in out
        )
        assert "nothing was planned or applied" in out
        out = flat(ok(apply(cli, saved), 1))  # a saved plan is refused (its lock released)
        assert "is not served" in out and "apply complete" not in out
        out = flat(ok(apply(cli, file), 1))
        assert "is not served" in out and "apply complete" not in out
        assert contents(kubectl, namespace) == before
        assert kubectl("get", "priorityclass", namespace, check=False).returncode != 0


def test_namespace_of_an_uninstalled_component_is_named(cli: Cli, namespace: str):
    items = stack_manifests(namespace, namespace, ("a",))
    items.append({"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "c", "namespace": "lws-system"}})  # fmt: skip
    out = flat(ok(cli.plan(cli.write(namespace, items)), 1))
    assert "LeaderWorkerSet is not installed: namespace lws-system does not exist" in out


def test_hand_made_namespace_is_never_adopted_without_import(
    cli: Cli, namespace: str, kubectl: Any
):
    ns = f"{namespace[:50].rstrip('-')}-hand"
    kubectl("create", "namespace", ns)
    try:
        kubectl("-n", ns, "create", "secret", "generic", "hand-made", "--from-literal=k=v")
        ns_obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        cm = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "settings", "namespace": ns}, "data": {"a": "1"}}  # fmt: skip
        file = cli.write(namespace, [ns_obj, cm])
        out = flat(ok(cli.plan(file), 1))
        assert f"Namespace/{ns}: exists and is not managed by this stack (managed by field " in out
        assert f"aiplane import {file} Namespace/{ns}" in out
        ok(apply(cli, file), 1)
        labels = json.loads(kubectl("get", "namespace", ns, "-o", "json").stdout)["metadata"]
        assert "applyset.k8s.io/part-of" not in (labels.get("labels") or {})
        assert kubectl("-n", ns, "get", "configmap", "settings", check=False).returncode != 0

        ok(cli.run("import", file, f"Namespace/{ns}", "--yes", env=NO_WAIT))
        ok(apply(cli, file))
        ok(cli.plan(file), 0)

        # Leaving the stack: a Namespace deletion has its own gate and lists what it would take.
        other = cli.write(namespace, [], "empty.json")
        out = flat(ok(cli.plan(other, "--allow-delete"), 3))
        assert "--allow-namespace-delete" in out
        assert f"not owned by this stack: Secret/{ns}/hand-made" in out
        ok(apply(cli, other, "--allow-delete"), 3)
        ok(apply(cli, other, "--allow-delete", "--allow-namespace-delete"))
    finally:
        kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found")


def helm_policy(name: str) -> dict[str, Any]:
    """A ClusterPolicy as the GPU Operator's Helm chart leaves it (labels, release annotations,
    a field aiplane never sets)."""
    spec = _sample_policy_spec()
    spec["daemonsets"] = {"priorityClassName": "system-node-critical"}
    return {
        "apiVersion": "nvidia.com/v1", "kind": "ClusterPolicy",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "Helm"},
                     "annotations": {"meta.helm.sh/release-name": "gpu-operator",
                                     "meta.helm.sh/release-namespace": "gpu-operator"}},
        "spec": spec,
    }  # fmt: skip


def stack_policy(name: str, strategy: str) -> dict[str, Any]:
    spec = _sample_policy_spec()
    spec["mig"] = {"strategy": strategy}
    return {"apiVersion": "nvidia.com/v1", "kind": "ClusterPolicy", "metadata": {"name": name},
            "spec": spec}  # fmt: skip


def live_policy(kubectl: Any, name: str) -> dict[str, Any]:
    res = kubectl("get", "clusterpolicy", name, "-o", "json", "--show-managed-fields")
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def managers(obj: dict[str, Any]) -> set[str]:
    return {e["manager"] for e in obj["metadata"].get("managedFields", [])}


def test_helm_cluster_policy_is_configured_never_owned(cli: Cli, namespace: str, kubectl: Any):
    name = f"{namespace[:50].rstrip('-')}-helm"
    kubectl("apply", "--server-side", "--field-manager=helm", "-f", "-",
            input=json.dumps(helm_policy(name)))  # fmt: skip
    try:
        marker = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "m", "namespace": namespace}}  # fmt: skip
        file = cli.write(namespace, [marker, stack_policy(name, "mixed")])
        out = flat(ok(cli.plan(file), 1))
        assert f"ClusterPolicy/{name}: field spec.mig.strategy is set by helm" in out
        ok(apply(cli, file), 1)
        assert live_policy(kubectl, name)["spec"]["mig"]["strategy"] == "single"

        out = flat(ok(cli.run("import", file, f"ClusterPolicy/{name}", "--yes", env=NO_WAIT), 3))
        assert "--allow-disruption" in out  # a MIG strategy change drains GPU nodes: gated
        ok(cli.run("import", file, f"ClusterPolicy/{name}", "--yes", "--allow-disruption",
                   env=NO_WAIT))  # fmt: skip
        live = live_policy(kubectl, name)
        assert live["spec"]["mig"]["strategy"] == "mixed"
        assert live["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "Helm"}
        assert f"aiplane-stack-{namespace}" in managers(live)
        ok(apply(cli, file))  # the marker ConfigMap
        ok(cli.plan(file), 0)

        # The stack drops the policy: its fields are released, the object and Helm's stay.
        out = flat(ok(apply(cli, cli.write(namespace, [marker], "rest.json"), "--allow-delete")))
        assert "releases this stack's fields, the object stays (helm)" in out
        live = live_policy(kubectl, name)
        assert f"aiplane-stack-{namespace}" not in managers(live)
        assert live["spec"]["daemonsets"]["priorityClassName"] == "system-node-critical"
        assert live["spec"]["driver"]["enabled"] is True
        assert live["metadata"]["annotations"]["meta.helm.sh/release-name"] == "gpu-operator"
    finally:
        kubectl("delete", "clusterpolicy", name, "--ignore-not-found")


def test_two_stacks_share_one_gpu_policy(cli: Cli, namespace: str, kubectl: Any):
    name = f"{namespace[:50].rstrip('-')}-shared"
    base = namespace[:36].rstrip("-")
    team_a, team_b = f"{base}-a", f"{base}-b"
    kubectl("create", "namespace", team_a)
    kubectl("create", "namespace", team_b)

    def stack(team: str, strategy: str, file: str) -> str:
        marker = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "m", "namespace": team}}  # fmt: skip
        return cli.write(team, [marker, stack_policy(name, strategy)], file)

    try:
        file_a, file_b = stack(team_a, "mixed", "a.json"), stack(team_b, "mixed", "b.json")
        ok(apply(cli, file_a))
        ok(apply(cli, file_b))
        ok(cli.plan(file_a), 0)
        ok(cli.plan(file_b), 0)
        out = flat(ok(cli.plan(stack(team_b, "single", "b2.json")), 1))
        assert f"field spec.mig.strategy is set by stack {team_a}" in out

        before = live_policy(kubectl, name)["spec"]
        empty_a = cli.write(team_a, [], "a-empty.json")
        ok(apply(cli, empty_a, "--allow-delete"))
        assert live_policy(kubectl, name)["spec"] == before  # team b's GPU config is whole
        ok(cli.plan(file_b), 0)
        empty_b = cli.write(team_b, [], "b-empty.json")
        ok(apply(cli, empty_b, "--allow-delete"))  # the last stack: it goes
        assert kubectl("get", "clusterpolicy", name, check=False).returncode != 0
    finally:
        kubectl("delete", "clusterpolicy", name, "--ignore-not-found")
        kubectl("delete", "namespace", team_a, team_b, "--wait=false", "--ignore-not-found")


def pending_stack(ns: str, selector: dict[str, str]) -> list[dict[str, Any]]:
    """One model whose pods can only run on a node with ``selector`` (none exists yet)."""
    items = stack_manifests(ns, ns, ("a",))
    deploy = next(i for i in items if i["kind"] == "Deployment")
    deploy["spec"]["template"]["spec"]["nodeSelector"] = selector
    return items


def route_exists(kubectl: Any, ns: str) -> bool:
    res = kubectl("-n", ns, "get", "httproute", "chat-completions", check=False)
    return bool(res.returncode == 0)


@pytest.mark.parametrize("stop", ["timeout", "SIGINT", "SIGTERM"])
def test_rerun_after_a_stopped_apply_never_moves_traffic_to_pods_not_ready(
    cli: Cli, namespace: str, kubectl: Any, gpu_nodes: Any, stop: str
):
    selector = {"aiplane.test/pool": "h" + namespace.rsplit("-", 1)[-1]}
    file = cli.write(namespace, pending_stack(namespace, selector))
    if stop == "timeout":
        out = flat(ok(cli.run("apply", file, "--yes", env={"AIPLANE_HEALTH_TIMEOUT": "2"}), 1))
        assert f"Deployment/{namespace}/a: not healthy after" in out
    else:
        proc = cli.start("apply", file, "--yes", env={"AIPLANE_HEALTH_TIMEOUT": "600"})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if kubectl("-n", namespace, "get", "deploy", "a", check=False).returncode == 0:
                break
            time.sleep(0.2)
        time.sleep(1)  # inside the health wait
        proc.send_signal(getattr(signal, stop))
        out, err = proc.communicate(timeout=120)
        assert proc.returncode != 0, out + err
    assert not route_exists(kubectl, namespace)

    # The rerun changes nothing before the routes, but the model is still not ready: it stops.
    out = flat(ok(cli.run("apply", file, "--yes", env={"AIPLANE_HEALTH_TIMEOUT": "2"}), 1))
    assert f"stage routes: not started: Deployment/{namespace}/a: 0/1 ready" in out
    assert "rollout incomplete" in out and f"HTTPRoute/{namespace}/chat-completions" in out
    assert not route_exists(kubectl, namespace)
    out = flat(ok(cli.plan(file), 2))
    assert f"Deployment/{namespace}/a: 0/1 ready" in out  # plan shows it too

    # Health returns (a node the pods fit on): the rerun completes.
    gpu_nodes("A100", 1, labels=selector)
    out = flat(ok(cli.run("apply", file, "--yes", env={"AIPLANE_HEALTH_TIMEOUT": "180"})))
    assert "apply complete" in out
    assert route_exists(kubectl, namespace)
    ok(cli.plan(file), 0)
