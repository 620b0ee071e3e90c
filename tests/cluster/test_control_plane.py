"""The local control plane schedules GPU pods like a real cluster (kwok plays the kubelet)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

pytestmark = pytest.mark.cluster

H100_PRODUCT = "NVIDIA-H100-80GB-HBM3"


def _apply(control_plane: Any, namespace: str, obj: dict[str, Any]) -> None:
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))


def _pod(name: str, resources: dict[str, int], node_selector: dict[str, str]) -> dict[str, Any]:
    limits = {k: str(v) for k, v in resources.items()}
    image = "registry.invalid/cuda:12"  # never pulled: kwok plays the kubelet
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": node_selector,
            "containers": [{"name": "main", "image": image, "resources": {"limits": limits}}],
        },
    }


def _get(control_plane: Any, namespace: str, *what: str) -> dict[str, Any]:
    out = control_plane.kubectl("get", "-n", namespace, *what, "-o", "json").stdout
    result: dict[str, Any] = json.loads(out)
    return result


def _wait_pod_running(control_plane: Any, namespace: str, name: str) -> dict[str, Any]:
    control_plane.kubectl(
        "wait", "-n", namespace, f"pod/{name}", "--for=jsonpath={.status.phase}=Running",
        "--timeout=90s", timeout=120,
    )  # fmt: skip
    return _get(control_plane, namespace, "pod", name)


def test_gpu_deployment_runs_on_fake_h100(control_plane, namespace, gpu_nodes):
    nodes = gpu_nodes("H100-80GB", 1)
    node = control_plane.api("GET", f"/api/v1/nodes/{nodes[0]}")
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == "8"
    labels = node["metadata"]["labels"]
    assert labels["nvidia.com/gpu.product"] == H100_PRODUCT
    assert labels["nvidia.com/gpu.count"] == "8"
    assert labels["nvidia.com/mig.capable"] == "true"

    template = _pod("x", {"nvidia.com/gpu": 1}, {"kubernetes.io/hostname": nodes[0]})
    _apply(
        control_plane,
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "trainer"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "trainer"}},
                "template": {"metadata": {"labels": {"app": "trainer"}}, "spec": template["spec"]},
            },
        },
    )
    control_plane.kubectl(
        "rollout", "status", "-n", namespace, "deployment/trainer", "--timeout=90s", timeout=120
    )
    pods = _get(control_plane, namespace, "pods", "-l", "app=trainer")["items"]
    assert len(pods) == 1
    pod = pods[0]
    assert pod["status"]["phase"] == "Running"
    assert pod["spec"]["nodeName"] == nodes[0]
    ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert ready["Ready"] == "True"


def test_pod_wanting_more_gpus_than_any_node_stays_pending(control_plane, namespace, gpu_nodes):
    gpu_nodes("H100-80GB", 2)
    _apply(
        control_plane,
        namespace,
        _pod("too-big", {"nvidia.com/gpu": 16}, {"nvidia.com/gpu.product": H100_PRODUCT}),
    )
    deadline = time.monotonic() + 60
    cond: dict[str, Any] = {}
    while time.monotonic() < deadline:
        pod = _get(control_plane, namespace, "pod", "too-big")
        conds = {c["type"]: c for c in pod["status"].get("conditions", [])}
        cond = conds.get("PodScheduled", {})
        if cond.get("status") == "False" and "nvidia.com/gpu" in cond.get("message", ""):
            break
        time.sleep(0.5)
    assert cond.get("reason") == "Unschedulable", cond
    assert "Insufficient nvidia.com/gpu" in cond["message"], cond
    assert pod["status"]["phase"] == "Pending"
    assert not pod["spec"].get("nodeName")


def test_mig_mixed_node_runs_a_mig_pod(control_plane, namespace, gpu_nodes):
    nodes = gpu_nodes(
        "H100-80GB",
        1,
        gpus_per_node=1,
        mig_strategy="mixed",
        mig_layout="3g.40gb=1,2g.20gb=1,1g.10gb=2",
    )
    node = control_plane.api("GET", f"/api/v1/nodes/{nodes[0]}")
    cap = node["status"]["capacity"]
    assert cap["nvidia.com/mig-3g.40gb"] == "1"
    assert cap["nvidia.com/mig-2g.20gb"] == "1"
    assert cap["nvidia.com/mig-1g.10gb"] == "2"
    labels = node["metadata"]["labels"]
    assert labels["nvidia.com/mig.strategy"] == "mixed"
    assert labels["nvidia.com/mig.config"] == "all-balanced"
    assert labels["nvidia.com/mig.config.state"] == "success"

    _apply(
        control_plane,
        namespace,
        _pod("mig", {"nvidia.com/mig-3g.40gb": 1}, {"nvidia.com/mig.strategy": "mixed"}),
    )
    pod = _wait_pod_running(control_plane, namespace, "mig")
    assert pod["spec"]["nodeName"] == nodes[0]


def test_apiserver_restart_keeps_state(control_plane, namespace):
    control_plane.kubectl("create", "configmap", "survivor", "-n", namespace, "--from-literal=a=1")
    port = control_plane.ports["apiserver"]
    control_plane.stop_apiserver(kill=True)
    res = control_plane.kubectl("get", "ns", namespace, check=False, timeout=30)
    assert res.returncode != 0
    control_plane.start_apiserver()
    assert control_plane.ports["apiserver"] == port
    cm = _get(control_plane, namespace, "configmap", "survivor")
    assert cm["data"] == {"a": "1"}
