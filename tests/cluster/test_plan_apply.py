"""plan/apply against the real local control plane (see conftest.py).

Each test uses its own namespace; the stack name is the namespace name, so ApplySet parents,
locks and PriorityClasses never collide between tests. The CLI runs as a subprocess, exactly as a
user or CI runs it.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_plan_apply_support import CANARY, bundle, stack_manifests

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[2]


class Cli:
    """Runs ``python -m aiplane`` against the test cluster."""

    def __init__(self, kubeconfig: Path, workdir: Path) -> None:
        self.kubeconfig = kubeconfig
        self.workdir = workdir
        self.env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "AIPLANE_HEALTH_TIMEOUT": "60",
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }

    def write(self, stack: str, items: list[dict[str, Any]], name: str = "stack.json") -> str:
        path = self.workdir / name
        path.write_text(bundle(stack, items))
        return str(path)

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "aiplane", *args],
            cwd=REPO,
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = self.start(*args, env=env)
        out, err = proc.communicate(timeout=240)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def plan(self, file: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.run("plan", file, "--detailed-exitcode", *extra)

    def apply(self, target: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.run("apply", target, "--yes", *extra)


@pytest.fixture
def cli(kubeconfig: Path, tmp_path: Path) -> Cli:
    return Cli(kubeconfig, tmp_path)


@pytest.fixture
def pool(gpu_nodes: Any, namespace: str) -> dict[str, str]:
    """One fake GPU node (so pods can run) labelled for this test's NodeLabels selector."""
    selector = {"aiplane.test/pool": "p" + namespace.rsplit("-", 1)[-1]}
    gpu_nodes("A100", 1, labels=selector)
    return selector


def ok(res: subprocess.CompletedProcess[str], code: int = 0) -> str:
    assert res.returncode == code, (
        f"exit {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    )
    return res.stdout + res.stderr


def _mark_policy_ready(kubectl: Any, name: str, stop: threading.Event) -> None:
    """Play the GPU Operator: set ClusterPolicy status.state=ready once it exists."""
    while not stop.is_set():
        res = kubectl("get", "clusterpolicy", name, check=False)
        if res.returncode == 0:
            kubectl("patch", "clusterpolicy", name, "--subresource=status", "--type=merge",
                    "-p", '{"status":{"state":"ready"}}', check=False)  # fmt: skip
            return
        time.sleep(0.3)


def test_apply_then_plan_is_empty(cli: Cli, namespace: str, pool: dict[str, str], kubectl: Any):
    items = stack_manifests(namespace, namespace, with_policy=True, node_selector=pool)
    file = cli.write(namespace, items)
    out = ok(cli.plan(file), 3)  # node labels change MIG config: blocked without the flag
    assert "node-disruptive" in out and "--allow-disruption" in out
    stop = threading.Event()
    helper = threading.Thread(
        target=_mark_policy_ready, args=(kubectl, f"{namespace}-gpu-policy", stop), daemon=True
    )
    helper.start()
    out = ok(cli.apply(file, "--allow-disruption"))
    stop.set()
    assert "apply complete" in out
    out = ok(cli.plan(file))
    assert "no changes" in out
    doc = json.loads(ok(cli.plan(file, "--json")))
    assert doc["format_version"] == 2
    assert doc["summary"]["has_changes"] is False
    assert doc["summary"]["noop"] == len(items)
    node = json.loads(kubectl("get", "nodes", "-l", ",".join(f"{k}={v}" for k, v in pool.items()),
                              "-o", "json").stdout)["items"][0]  # fmt: skip
    assert node["metadata"]["labels"]["nvidia.com/mig.config"] == "all-1g.10gb"
    assert node["metadata"]["labels"]["nvidia.com/gpu.present"] == "true"  # others untouched


def test_hand_edit_drift_is_shown_and_repaired(
    cli: Cli, namespace: str, pool: dict[str, str], kubectl: Any
):
    file = cli.write(namespace, stack_manifests(namespace, namespace))
    ok(cli.apply(file))
    kubectl("-n", namespace, "set", "image", "deploy/llama", "vllm=vllm/vllm-openai:hand-edit")
    kubectl("-n", namespace, "patch", "deploy", "mistral", "--subresource=scale",
            "--type=merge", "-p", '{"spec":{"replicas":3}}',
            "--field-manager=kube-controller-manager")  # fmt: skip
    out = ok(cli.plan(file), 2)
    assert "Deployment/" + namespace + "/llama (update, rolling-restart)" in out
    assert "hand-edit -> vllm/vllm-openai:v0.6.0" in out
    assert "spec.replicas: expected drift (owned by HorizontalPodAutoscaler)" in out
    # The hand edit is drift, reviewed in its own section and named by its field manager.
    drift = out[out.index("Changed outside aiplane") : out.index("\nChanges")]
    assert "model llama" in drift
    assert "changed outside aiplane by kubectl-set" in out
    ok(cli.apply(file))
    image = kubectl("-n", namespace, "get", "deploy", "llama", "-o",
                    "jsonpath={.spec.template.spec.containers[0].image}").stdout  # fmt: skip
    assert image == "vllm/vllm-openai:v0.6.0"
    replicas = kubectl("-n", namespace, "get", "deploy", "mistral", "-o",
                       "jsonpath={.spec.replicas}").stdout  # fmt: skip
    assert replicas == "3"  # the autoscaler's value is left alone
    ok(cli.plan(file), 0)


def _names(kubectl: Any, ns: str, kinds: str = "deploy,svc,pdb,secret,cm") -> set[str]:
    res = kubectl("-n", ns, "get", kinds, "-o", "name")
    return set(res.stdout.split())


def test_prune_deletes_exactly_the_removed_model(
    cli: Cli, namespace: str, pool: dict[str, str], kubectl: Any
):
    other_ns = f"{namespace[:40]}-other"
    kubectl("create", "namespace", other_ns)
    try:
        # another aiplane stack in the same namespace, sharing nothing but the namespace
        other = cli.write(f"{namespace[:40]}-b", [
            o for o in stack_manifests(f"{namespace[:40]}-b", namespace, ("qwen",))
            if o["kind"] != "HTTPRoute" and not o["metadata"]["name"].startswith("aiplane-coll")
        ], "other.json")  # fmt: skip
        ok(cli.apply(other))
        # unlabelled objects with the same names elsewhere, and another tool's ApplySet member
        kubectl("-n", other_ns, "create", "deployment", "mistral", "--image=nginx")
        kubectl("-n", other_ns, "create", "service", "clusterip", "mistral", "--tcp=80:80")
        kubectl("-n", namespace, "create", "configmap", "foreign")
        kubectl("-n", namespace, "label", "configmap", "foreign",
                "applyset.k8s.io/part-of=applyset-kubectl-owned-v1")  # fmt: skip
        file = cli.write(namespace, stack_manifests(namespace, namespace))
        ok(cli.apply(file))
        before = _names(kubectl, namespace)
        smaller = cli.write(namespace, stack_manifests(namespace, namespace, ("llama",)))
        out = ok(cli.plan(smaller), 3)
        assert out.count("deletion is blocked") == 4
        out = ok(cli.apply(smaller, "--allow-delete"))
        assert "4 pruned" in out
        gone = before - _names(kubectl, namespace)
        assert gone == {
            "deployment.apps/mistral", "service/mistral",
            "poddisruptionbudget.policy/mistral", "secret/mistral-hf",
        }  # fmt: skip
        assert {"deployment.apps/mistral", "service/mistral"} <= _names(kubectl, other_ns,
                                                                          "deploy,svc")  # fmt: skip
        assert "deployment.apps/qwen" in _names(kubectl, namespace)
        assert "configmap/foreign" in _names(kubectl, namespace)
        ok(cli.plan(smaller), 0)
        ok(cli.plan(other), 0)
    finally:
        kubectl("delete", "namespace", other_ns, "--wait=false", check=False)


def test_two_applies_at_once_one_waits(cli: Cli, namespace: str, pool: dict[str, str]):
    file = cli.write(namespace, stack_manifests(namespace, namespace, ("a", "b", "c")))
    first = cli.start("apply", file, "--yes", "--lock-timeout", "120")
    second = cli.start("apply", file, "--yes", "--lock-timeout", "120")
    results = [(*p.communicate(timeout=240), p.returncode) for p in (first, second)]
    assert [r[2] for r in results] == [0, 0], results
    waited = [r for r in results if "waiting up to" in r[1]]
    assert waited, "one of the two applies must have waited for the lock"
    ok(cli.plan(file), 0)


def test_held_lock_fails_clearly_and_expired_lock_is_taken_over(
    cli: Cli, namespace: str, pool: dict[str, str], kubectl: Any
):
    file = cli.write(namespace, stack_manifests(namespace, namespace, ("a",)))
    ok(cli.apply(file))
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    lease = {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": f"aiplane-lock-{namespace}", "namespace": "aiplane-system",
                     "annotations": {"aiplane.dev/lock-purpose": "apply from CI run 42"}},
        "spec": {"holderIdentity": "ci@runner-7:1", "leaseDurationSeconds": 8,
                 "acquireTime": now, "renewTime": now},
    }  # fmt: skip
    kubectl("apply", "-f", "-", input=json.dumps(lease))
    res = cli.apply(file, "--lock-timeout", "0.5")
    out = ok(res, 1)
    assert "held by ci@runner-7:1 (apply from CI run 42)" in out
    time.sleep(8.5)
    out = ok(cli.apply(file, "--lock-timeout", "5"))
    assert "expired; taking it over" in out


def test_apiserver_killed_mid_apply_then_rerun_converges(
    cli: Cli, namespace: str, pool: dict[str, str], control_plane: Any, kubectl: Any
):
    models = tuple(f"m{i}" for i in range(40))
    file = cli.write(namespace, stack_manifests(namespace, namespace, models))
    proc = cli.start("apply", file, "--yes")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        res = kubectl("-n", namespace, "get", "secret", "-o", "name", check=False)
        if res.stdout.strip():
            break
        time.sleep(0.05)
    control_plane.stop_apiserver(kill=True)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        control_plane.start_apiserver()
    assert proc.returncode == 1, out + err
    assert "cannot reach the API server" in err
    assert "not applied" in err
    # the controller-manager's watches reconnect with backoff after the restart, so rollouts
    # can take a while to start again: give the rerun's health wait room
    out = ok(cli.run("apply", file, "--yes", "--lock-timeout", "30",
                     env={"AIPLANE_HEALTH_TIMEOUT": "300"}))  # fmt: skip
    assert "taking it over" in out and "apply complete" in out
    ok(cli.plan(file), 0)
    assert len(_names(kubectl, namespace, "deploy")) == len(models)


def test_stale_saved_plan_is_rejected(
    cli: Cli, namespace: str, pool: dict[str, str], kubectl: Any, tmp_path: Path
):
    file = cli.write(namespace, stack_manifests(namespace, namespace))
    ok(cli.apply(file))
    changed = cli.write(namespace, stack_manifests(namespace, namespace, image="vllm:v2"))
    saved = str(tmp_path / "plan.json")
    ok(cli.plan(changed, "--out", saved), 2)
    kubectl("-n", namespace, "annotate", "deploy", "llama", "touched=by-hand")
    out = ok(cli.apply(saved), 1)
    assert f"plan is stale: Deployment/{namespace}/llama changed since the plan" in out
    # a fresh saved plan applies exactly, and the lock taken at plan time passes to apply;
    # an autoscaler scaling in between (expected drift) does not make it stale
    ok(cli.plan(changed, "--out", saved), 2)
    kubectl("-n", namespace, "patch", "deploy", "mistral", "--subresource=scale",
            "--type=merge", "-p", '{"spec":{"replicas":2}}',
            "--field-manager=kube-controller-manager")  # fmt: skip
    ok(cli.apply(saved))
    ok(cli.plan(changed), 0)


def test_collection_vector_size_change_is_a_replace(cli: Cli, namespace: str, pool: dict[str, str]):
    file = cli.write(namespace, stack_manifests(namespace, namespace, ("a",)))
    ok(cli.apply(file))
    bigger = cli.write(namespace, stack_manifests(namespace, namespace, ("a",), size=1024))
    out = ok(cli.plan(bigger), 3)
    assert "vectors.size 768 -> 1024 is immutable" in out
    assert "1 to replace" in out and "(replace, recreate)" in out
    ok(cli.apply(bigger, "--allow-delete"))
    ok(cli.plan(bigger), 0)


def test_foreign_applyset_parent_is_refused(cli: Cli, namespace: str, kubectl: Any):
    parent = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": f"applyset-{namespace}", "namespace": "aiplane-system",
                     "annotations": {"applyset.k8s.io/tooling": "kubectl/v1.34"}},
    }  # fmt: skip
    kubectl("create", "namespace", "aiplane-system", check=False)
    kubectl("apply", "-f", "-", input=json.dumps(parent))
    try:
        out = ok(cli.plan(cli.write(namespace, stack_manifests(namespace, namespace))), 1)
        assert "owned by 'kubectl/v1.34'" in out
    finally:
        kubectl("-n", "aiplane-system", "delete", "configmap", f"applyset-{namespace}")


def test_canary_secret_never_appears_in_any_output(
    cli: Cli, namespace: str, pool: dict[str, str], kubectl: Any, tmp_path: Path
):
    file = cli.write(namespace, stack_manifests(namespace, namespace, ("a",)))
    outputs = [cli.plan(file), cli.plan(file, "--json"), cli.plan(file, "--markdown")]
    outputs.append(cli.apply(file))
    kubectl("-n", namespace, "patch", "secret", "a-hf", "--type=merge",
            "-p", json.dumps({"stringData": {"token": "live-" + CANARY}}))  # fmt: skip
    saved = tmp_path / "plan.json"
    outputs += [cli.plan(file), cli.plan(file, "--json"), cli.plan(file, "--markdown"),
                cli.plan(file, "--out", str(saved))]  # fmt: skip
    outputs.append(cli.apply(str(saved)))
    text = "".join(r.stdout + r.stderr for r in outputs) + saved.read_text()
    assert "Secret/" + namespace + "/a-hf" in text  # the change itself is shown
    live = "live-" + CANARY
    for secret in (CANARY, live, *(base64.b64encode(s.encode()).decode() for s in (CANARY, live))):
        assert secret not in text


def _destroy(kubeconfig: Path, stack_file: str) -> None:
    """Prune every member of the stack's ApplySet (what an empty stack would plan)."""
    from aiplane.commands.cluster import open_run
    from aiplane.commands.stackfile import render_file
    from aiplane.plan.engine import apply_plan, build_plan
    from aiplane.providers.kubernetes.client import KubeClient
    from aiplane.providers.kubernetes.kubeconfig import load_kubeconfig
    from aiplane.secrets import Scrubber

    stack, _ = render_file(stack_file)
    with KubeClient(load_kubeconfig(str(kubeconfig))) as client:
        run = open_run(client, stack, stack_file, Scrubber(), [])
        plan, lives = build_plan(run, [], mode="cluster", target="test")
        apply_plan(run, plan, [], lives, say=lambda _: None, health=False)


def served_example(cli: Cli, kubeconfig: Path, kubectl: Any, example: str) -> str:
    """The example stack as rendered, written for the CLI: objects of kinds whose CRDs are not
    installed here are left out (plan refuses them; see
    test_plan_refuses_missing_crds_and_namespaces), and the namespaces it uses but does not
    create (e.g. the GPU Operator's) are created first, standing in for what it expects."""
    from aiplane.commands.stackfile import render_file
    from aiplane.providers.kubernetes.client import KubeClient
    from aiplane.providers.kubernetes.kubeconfig import load_kubeconfig

    stack, items = render_file(str(REPO / "stacks" / example))
    with KubeClient(load_kubeconfig(str(kubeconfig))) as client:
        served = [m for m in items if m["kind"] == "NodeLabels"
                  or client.resource(m["apiVersion"], m["kind"])]  # fmt: skip
    created = {m["metadata"]["name"] for m in items if m["kind"] == "Namespace"}
    for ns in sorted(created):  # an earlier test's copy of the stack may still be going away
        kubectl("wait", "--for=delete", f"namespace/{ns}", "--timeout=180s", check=False,
                timeout=200)  # fmt: skip
    used = {m["metadata"].get("namespace") for m in served} - created - {None}
    for ns in sorted(used):
        kubectl("create", "namespace", ns, check=False)
    return cli.write(stack, served, f"{stack}.json")


NO_WAIT = {"AIPLANE_NO_WAIT": "1"}  # no GPU Operator, no GPU nodes for these pools


def plans_empty(cli: Cli, file: str) -> None:
    res = cli.run("plan", file, "--detailed-exitcode", env=NO_WAIT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "no changes" in res.stdout


@pytest.mark.parametrize("example", sorted(p.name for p in (REPO / "stacks").glob("*.yaml")))
def test_example_stack_apply_then_plan_is_empty(
    cli: Cli, kubeconfig: Path, kubectl: Any, example: str
):
    """Every example stack applies and then plans with zero changes (health waits are off:
    they are exercised elsewhere)."""
    file = served_example(cli, kubeconfig, kubectl, example)
    try:
        ok(cli.run("apply", file, "--yes", "--allow-disruption", env=NO_WAIT))
        plans_empty(cli, file)
    finally:
        _destroy(kubeconfig, file)


def test_seed_and_production_share_one_cluster(cli: Cli, kubeconfig: Path, kubectl: Any):
    """Two example stacks on one cluster (issue 11): the GPU Operator's objects and the
    PriorityClasses they both declare are shared by field; each applies, both plan empty, and
    removing one leaves the other planning empty."""
    seed = served_example(cli, kubeconfig, kubectl, "seed.yaml")
    production = served_example(cli, kubeconfig, kubectl, "production.yaml")
    try:
        ok(cli.run("apply", seed, "--yes", "--allow-disruption", env=NO_WAIT))
        ok(cli.run("apply", production, "--yes", "--allow-disruption", env=NO_WAIT))
        plans_empty(cli, seed)
        plans_empty(cli, production)
        _destroy(kubeconfig, seed)
        plans_empty(cli, production)
        res = kubectl("get", "priorityclass", "critical-inference", "training", check=False)
        assert res.returncode == 0, res.stderr  # still production's
    finally:
        _destroy(kubeconfig, seed)
        _destroy(kubeconfig, production)


def kind_of(change: dict[str, Any]) -> str:
    """The kind of a planned change in the JSON plan (its address type is apiVersion/kind)."""
    return str(change["address"]["type"]).rpartition("/")[2]


def test_plan_refuses_missing_crds_and_namespaces(cli: Cli, namespace: str):
    items = stack_manifests(namespace, namespace, ("a",))
    items.append(
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "namespace": namespace},
            "spec": {"size": 1},
        }
    )
    items.append({"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "c", "namespace": "no-such-namespace-here"}})  # fmt: skip
    res = cli.plan(cli.write(namespace, items))
    out = ok(res, 1)
    assert "namespace no-such-namespace-here does not exist and the stack does not create it" in out
    assert "API example.com/v1 (Widget) is not served: install a CRD for example.com" in out
    out = ok(cli.plan(cli.write(namespace, items[:-1])), 1)
    assert "API example.com/v1 (Widget) is not served" in out
    assert "no-such-namespace-here" not in out


def test_crd_and_its_custom_resource_in_one_apply(cli: Cli, namespace: str):
    group = f"t{namespace.rsplit('-', 1)[-1]}.example.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {
                                   "type": "object",
                                   "properties": {"spec": {"type": "object", "properties": {
                                       "size": {"type": "integer", "default": 3},
                                       "color": {"type": "string"}}}}}}}]},
    }  # fmt: skip
    widget = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": namespace},
        "spec": {"color": "red"},
    }
    file = cli.write(namespace, [crd, widget])
    doc = json.loads(ok(cli.plan(file, "--json"), 2))
    planned = {kind_of(c): c for c in doc["changes"]}
    assert planned["Widget"]["estimate"] is True
    assert "installed by this plan" in planned["Widget"]["reason"]
    out = ok(cli.apply(file))
    assert out.index("stage crds") < out.index("stage workloads")
    ok(cli.plan(file), 0)  # the CRD default (size: 3) is not a change
    try:
        ok(cli.apply(cli.write(namespace, [crd]), "--allow-delete"))  # prune the Widget
    finally:
        ok(cli.apply(cli.write(namespace, []), "--allow-delete"))  # and the CRD


def test_health_timeout_stops_and_reports(cli: Cli, namespace: str, pool: dict[str, str]):
    items = stack_manifests(namespace, namespace, ("a",))
    deploy = next(i for i in items if i["kind"] == "Deployment")
    deploy["spec"]["template"]["spec"]["nodeSelector"] = {"aiplane.test/none": "nowhere"}
    file = cli.write(namespace, items)
    res = cli.run("apply", file, "--yes", env={"AIPLANE_HEALTH_TIMEOUT": "2"})
    out = ok(res, 1)
    assert f"Deployment/{namespace}/a: not healthy after" in out
    assert "not applied" in out and f"HTTPRoute/{namespace}/chat-completions" in out
    assert f"Deployment/{namespace}/a" not in out.split("not applied")[1]  # it was applied


def test_object_of_another_applyset_is_not_taken_over(cli: Cli, namespace: str, kubectl: Any):
    kubectl("-n", namespace, "create", "configmap", "shared-name")
    kubectl("-n", namespace, "label", "configmap", "shared-name",
            "applyset.k8s.io/part-of=applyset-someone-else-v1")  # fmt: skip
    kubectl("-n", namespace, "create", "configmap", "unlabelled")
    items = [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": n, "namespace": namespace}, "data": {"k": "v"}}
        for n in ("shared-name", "unlabelled")
    ]  # fmt: skip
    out = ok(cli.plan(cli.write(namespace, items)), 1)
    assert f"ConfigMap/{namespace}/shared-name: belongs to another ApplySet" in out
    assert "managed by ApplySet applyset-someone-else-v1" in " ".join(out.split())
    out = " ".join(ok(cli.plan(cli.write(namespace, items[1:])), 1).split())
    assert f"ConfigMap/{namespace}/unlabelled: exists and is not managed by this stack" in out
    assert "aiplane never adopts it" in out


def test_foreign_objects_among_many_new_ones_are_found(cli: Cli, namespace: str, kubectl: Any):
    """Many missing objects of one kind in one namespace are looked up by one LIST of names
    (``scoped_reads.unlisted_objects``): a foreign object among them must still be refused."""
    kubectl("-n", namespace, "create", "configmap", "cm-05")
    items = [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": f"cm-{i:02d}", "namespace": namespace}, "data": {"k": "v"}}
        for i in range(12)
    ]  # fmt: skip
    out = " ".join(ok(cli.plan(cli.write(namespace, items)), 1).split())
    assert f"ConfigMap/{namespace}/cm-05: exists and is not managed by this stack" in out
    del items[5]
    out = ok(cli.apply(cli.write(namespace, items)))
    assert "11 applied" in out, out


GPU_STACK = """apiVersion: aiplane.dev/v1alpha1
kind: Stack
metadata: {{name: {name}, namespace: {name}}}
spec:
  gpuPools: [{{name: h100, gpu: H100-80GB, nodes: 1, gpusPerNode: 8, costPerGpuHour: 2.5}}]
  models:
    - name: llama
      architecture: Llama-3.1-8B
      versions: [{{name: v1, source: "hf://meta-llama/Llama-3.1-8B-Instruct"}}]
      deployments: [{{version: v1, stage: production}}]
      replicas: {replicas}
      pool: h100
"""


def test_plan_shows_gpu_delta_against_the_applied_stack(
    cli: Cli, kubeconfig: Path, kubectl: Any, namespace: str
) -> None:
    """apply records the stack's GPU capacity on the ApplySet parent; the next plan compares."""
    name = f"gpu-{namespace.rsplit('-', 1)[-1]}"
    file = cli.workdir / "gpu.yaml"
    file.write_text(GPU_STACK.format(name=name, replicas=1))
    kubectl("create", "namespace", "gpu-operator", check=False)
    env = {"AIPLANE_NO_WAIT": "1"}
    try:
        ok(cli.run("apply", str(file), "--yes", "--allow-disruption", env=env))
        file.write_text(GPU_STACK.format(name=name, replicas=3))
        doc = json.loads(cli.run("plan", str(file), "--json", env=env).stdout)
        before, after = doc["gpu_capacity"]["before"], doc["gpu_capacity"]["after"]
        assert before["pools"][0]["gpus_used"] == 1
        assert after["pools"][0]["gpus_used"] == 3
        human = cli.run("plan", str(file), env=env).stdout
        assert "pool h100: 1 -> 3 of 8 H100-80GB GPUs (+2)" in human
        assert "$7.50/h (+5.00/h)" in human
    finally:
        _destroy(kubeconfig, str(file))


def test_force_unlock_breaks_only_the_named_holders_lock(
    cli: Cli, namespace: str, pool: dict[str, str], kubectl: Any
) -> None:
    file = cli.write(namespace, stack_manifests(namespace, namespace, ("a",)))
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    lease = {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": f"aiplane-lock-{namespace}", "namespace": "aiplane-system"},
        "spec": {"holderIdentity": "ci@runner-9:1", "leaseDurationSeconds": 3600,
                 "acquireTime": now, "renewTime": now},
    }  # fmt: skip
    kubectl("create", "namespace", "aiplane-system", check=False)
    kubectl("apply", "-f", "-", input=json.dumps(lease))
    out = ok(cli.apply(file, "--lock-timeout", "0.2"), 1)
    assert "aiplane force-unlock" in out
    out = ok(cli.run("force-unlock", file, "someone-else"), 1)
    assert "held by ci@runner-9:1, not someone-else; nothing released" in out
    out = ok(cli.run("force-unlock", file, "ci@runner-9:1"))
    assert f"Lease/aiplane-system/aiplane-lock-{namespace}: lock of ci@runner-9:1 released" in out
    ok(cli.apply(file, "--lock-timeout", "5"))
    out = ok(cli.run("force-unlock", file, "ci@runner-9:1"), 1)
    assert "not locked" in out
