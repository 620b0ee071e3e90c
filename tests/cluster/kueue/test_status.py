"""``aiplane status`` on a cluster where the stack is applied, with the real Kueue controller.

The test sets up what each section must show: a ready model version and one whose pod cannot
be scheduled (it needs 8 GPUs; the only node has 4), a queued job that cannot be admitted (it
needs 6 GPUs on one node), a ClusterPolicy the test marks ready, and a DCGM
exporter pod. kwok pods have no reachable address, so the one step that turns a pod into its
/metrics text is swapped for a server on 127.0.0.1 that speaks the vLLM and DCGM formats.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kueue_support import Stack, condition, ok, wait_for

from tests.unit.test_status_metrics import DCGM_TEXT, VLLM_TEXT

pytestmark = pytest.mark.cluster


class MetricsServer:
    """vLLM-format /metrics on 127.0.0.1; the generation counter grows 500 tokens per scrape."""

    def __init__(self) -> None:
        self.scrapes = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/dcgm/metrics":
                    body = DCGM_TEXT
                else:
                    owner.scrapes += 1
                    tokens = 30000 + 500 * owner.scrapes
                    body = VLLM_TEXT.replace("} 30000.0", f"}} {tokens}.0")
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def source(self, pod: dict[str, Any], port: int) -> str | None:
        """The swapped pod → metrics step: pods of this test map to the loopback server."""
        import urllib.request

        path = "/dcgm/metrics" if port == 9400 else "/metrics"
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
            return str(r.read().decode())


@pytest.fixture
def metrics() -> Iterator[MetricsServer]:
    server = MetricsServer()
    yield server
    server.httpd.shutdown()


@pytest.fixture
def stack(kubeconfig: Path, tmp_path: Path, kubectl: Any, kueue: Any) -> Iterator[Stack]:
    made = Stack(kubeconfig, tmp_path, kubectl)
    yield made
    made.destroy()


def _spec(name: str) -> dict[str, Any]:
    model = {
        "architecture": "Qwen2.5-1.5B",
        "versions": [{"name": "v1", "source": "hf://Qwen/Qwen2.5-1.5B-Instruct"}],
        "deployments": [{"version": "v1", "stage": "production", "weight": 100}],
        "pool": "train",
        "serving": {"maxModelLen": 4096},
    }
    return {
        "priorities": {"classes": [{"name": f"{name}-batch", "value": 10}]},
        "gpuPools": [
            {
                "name": "train",
                "gpu": "H100-80GB",
                "nodes": 2,
                "gpusPerNode": 8,
                "nodeSelector": {"aiplane.test/pool": name},
            }
        ],
        "queues": {},
        "models": [
            {"name": "chat", **model, "resources": {"gpus": 1}},
            {
                "name": "ghost",
                **model,
                "resources": {"gpus": 8},
                "serving": {"maxModelLen": 4096, "tensorParallelSize": 8},
            },
        ],
        "batchJobs": [
            {
                "name": "crunch",
                "image": "busybox:1.36",
                "command": ["true"],
                "pool": "train",
                "gpus": 3,
                "parallelism": 2,
                "completions": 2,
                "priority": f"{name}-batch",
            }
        ],
    }


def _dcgm_pod(namespace: str, node: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "dcgm",
                "namespace": namespace,
                "labels": {"app": "nvidia-dcgm-exporter"},
            },
            "spec": {"nodeName": node, "containers": [{"name": "e", "image": "dcgm-exporter:4"}]},
        }
    )


def _run_status(stack: Stack, metrics: MetricsServer, capsys: Any, *flags: str) -> tuple[int, str]:
    from aiplane.commands.status import status_main

    code = status_main(
        str(stack.file),
        kubeconfig=stack.env["KUBECONFIG"],
        context=None,
        as_json="--json" in flags,
        watch=None,
        sample_seconds=0.5,
        source=metrics.source,
    )
    return code, capsys.readouterr().out


def test_status_shows_every_section_with_what_the_cluster_has(
    stack: Stack, gpu_nodes: Any, kubectl: Any, metrics: MetricsServer, capsys: Any
) -> None:
    node = gpu_nodes("H100", 1, labels={"aiplane.test/pool": stack.name}, gpus_per_node=4)[0]
    stack.write(_spec(stack.name))
    ok(stack.cli("apply", str(stack.file), "--yes"))
    # aiplane configures the one ClusterPolicy (its fields, not the object: no stack label)
    policy = stack.json("get", "clusterpolicy", "cluster-policy")["metadata"]["name"]
    kubectl("patch", "clusterpolicy", policy, "--subresource=status", "--type=merge",
            "-p", '{"status":{"state":"ready"}}')  # fmt: skip
    kubectl("apply", "-f", "-", input=_dcgm_pod(stack.name, node))
    wait_for("chat ready", lambda: _ready(stack, "chat-production"))
    wait_for("dcgm running", lambda: _phase(stack, "dcgm") == "Running")
    wait_for("ghost unschedulable", lambda: _unschedulable(stack))
    wait_for("crunch pending in its queue", lambda: _pending(stack))

    code, out = _run_status(stack, metrics, capsys, "--json")
    assert code == 2, out  # ghost is not ready: unhealthy
    report = json.loads(out)
    assert report["format_version"] == 1 and report["stack"] == stack.name
    control = report["control_plane"]
    assert control["gpu_operator"] == {
        "state": "ready",
        "policies": [{"name": policy, "state": "ready"}],
    }
    assert control["mig_manager"] == {
        "state": "reported",
        "nodes": [{"node": node, "config": "all-disabled", "state": "success"}],
    }
    assert control["kueue"]["state"] == "running (ClusterQueues reconciled)"
    assert control["registry"] == {"state": "not configured"}
    assert control["gateway"] == {"state": "not configured"}
    models = {m["model"]: m for m in report["models"]}
    assert (models["chat"]["state"], models["chat"]["ready"], models["chat"]["desired"]) == (
        "ready",
        1,
        1,
    )
    assert models["chat"]["pods"][0]["node"] == node and models["chat"]["pods"][0]["gpu"] == "1 GPU"
    assert models["ghost"]["state"] == "not ready" and models["ghost"]["ready"] == 0
    assert "Insufficient nvidia.com/gpu" in models["ghost"]["last_event"]
    pending = [
        p for p in report["backlog"]["pending_pods"] if p["pod"].startswith(stack.name + "/")
    ]
    assert [p["gpu"] for p in pending] == ["8 GPU"]
    assert "Insufficient nvidia.com/gpu" in pending[0]["reason"]
    workloads = [w for w in report["backlog"]["pending_workloads"] if w["owner"] == "Job/crunch"]
    assert workloads and workloads[0]["position"] == 1 and workloads[0]["of"] == 1
    assert workloads[0]["cluster_queue"] == f"{stack.name}-train"
    queue = report["queues"][0]
    assert queue["cluster_queue"] == f"{stack.name}-train" and queue["active"]
    assert (queue["pending"], queue["admitted"]) == (1, 0)
    pool = report["pools"][0]
    assert pool["allocatable"] == {"nvidia.com/gpu": 4}
    assert pool["requested"].get("nvidia.com/gpu") == 1  # chat runs; ghost is not scheduled
    serving = report["data_plane"]["serving"]
    assert [(s["model"], s["pod"].startswith("chat-production")) for s in serving] == [
        ("chat", True)
    ]
    figures = serving[0]["metrics"]
    assert figures["latency_p50_s"] == pytest.approx(0.42)
    assert figures["latency_p99_s"] == pytest.approx(2.35)
    assert (figures["running"], figures["waiting"], figures["kv_cache_usage"]) == (5, 7, 0.625)
    assert figures["tokens_per_second"] and figures["tokens_per_second"] > 0
    gpus = report["data_plane"]["gpus"][0]["gpus"]
    assert gpus[0]["utilisation_percent"] == 87 and gpus[0]["temperature_c"] == 71
    assert any("model ghost v1 (production): not ready" in p for p in report["problems"])

    code, text = _run_status(stack, metrics, capsys)
    assert code == 2
    for expected in (
        f"ClusterPolicy/{policy} ready",
        "chat v1 (production, weight 100%): ready, 1/1 ready",
        "ghost v1 (production, weight 100%): not ready, 0/1 ready",
        "position 1 of 1",
        "latency p50 420 ms",
        "KV cache 62.5%",
        "GPU node-1/0: util 87%",
        "unhealthy",
    ):
        assert expected in text, text


def _ready(stack: Stack, deployment: str) -> bool:
    live = stack.json("get", "deployment", deployment, "-n", stack.name)
    return int((live.get("status") or {}).get("readyReplicas", 0) or 0) >= 1


def _phase(stack: Stack, pod: str) -> str:
    return str((stack.json("get", "pod", pod, "-n", stack.name).get("status") or {}).get("phase"))


def _unschedulable(stack: Stack) -> bool:
    pods = stack.json("get", "pods", "-n", stack.name, "-l", "aiplane.dev/model=ghost")["items"]
    return any(condition(p, "PodScheduled").get("reason") == "Unschedulable" for p in pods)


def _pending(stack: Stack) -> bool:
    """The Workload waits for quota, and its ClusterQueue's status counts it (Kueue writes that
    status a moment after the Workload's condition)."""
    workload = stack.workload_of("crunch")
    time.sleep(0.2)
    if workload is None or condition(workload, "QuotaReserved").get("status") != "False":
        return False
    queue = stack.json("get", "clusterqueue", f"{stack.name}-train")
    return int((queue.get("status") or {}).get("pendingWorkloads", 0)) == 1
