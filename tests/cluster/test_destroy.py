"""``aiplane destroy`` against the real local control plane: exactly the stack's objects go."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_kube_auth import run, write_stack
from test_plan_apply_support import model_objects, node_labels, priority

pytestmark = pytest.mark.cluster


def _names(kubectl: Any, ns: str) -> set[str]:
    out = kubectl("get", "deploy,svc,secret,cm", "-n", ns, "-o", "name").stdout
    return {line for line in out.split() if "kube-root-ca" not in line}


def test_destroy_removes_exactly_the_stack(
    control_plane: Any, namespace: str, tmp_path: Path, gpu_nodes: Any
) -> None:
    kubectl = control_plane.kubectl
    selector = {"aiplane.test/pool": "d" + namespace.rsplit("-", 1)[-1]}
    node = gpu_nodes("A100", 1, labels=selector)[0]
    env = {"KUBECONFIG": str(control_plane.kubeconfig)}
    mine = f"{namespace}-a"
    other = f"{namespace}-b"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = write_stack(tmp_path / "a", mine, [
        priority(mine), *model_objects(mine, namespace, "alpha"),
        node_labels(mine, "a100", selector, "all-1g.10gb")])  # fmt: skip
    b = write_stack(tmp_path / "b", other, model_objects(other, namespace, "beta"))
    run("apply", a, "--yes", "--allow-disruption", "--no-wait", env=env, code=0)
    run("apply", b, "--yes", "--no-wait", env=env, code=0)
    # a same-named object outside the stack: another namespace, no labels
    kubectl("create", "namespace", f"{namespace}-x")
    try:
        kubectl("create", "configmap", "alpha", "-n", f"{namespace}-x")
        before = _names(kubectl, namespace)
        out = run("destroy", a, "--yes", env=env, code=3)
        assert f"Deployment/{namespace}/alpha" in out and "--allow-delete" in out, out
        assert _names(kubectl, namespace) == before  # refused: nothing deleted
        out = run("destroy", a, "--yes", "--allow-delete", env=env, code=0)
        flat = " ".join(out.split())
        assert f"releases this stack's labels nvidia.com/mig.config on node {node}" in flat, out
        left = _names(kubectl, namespace)
        assert not any("alpha" in n for n in left), left
        assert {"deployment.apps/beta", "service/beta", "secret/beta-hf"} <= left
        assert kubectl("get", "priorityclass", f"{mine}-training", check=False).returncode != 0
        assert kubectl("get", "configmap", "alpha", "-n", f"{namespace}-x").returncode == 0
        parents = kubectl("get", "cm", "-n", "aiplane-system", "-o", "name").stdout
        assert f"applyset-{mine}" not in parents and f"applyset-{other}" in parents
        labels = json.loads(kubectl("get", "node", node, "-o", "json").stdout)["metadata"]["labels"]
        assert "nvidia.com/mig.config" not in labels and labels["nvidia.com/gpu.present"] == "true"
        assert "nothing to destroy" in run("destroy", a, "--yes", env=env, code=0)
        assert "no changes" in run("plan", b, env=env, code=0)
    finally:
        kubectl("delete", "namespace", f"{namespace}-x", "--wait=false")
        run("destroy", b, "--yes", "--allow-delete", env=env, code=0)
