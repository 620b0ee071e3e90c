"""The Lua health checks shipped in deploy/argocd/health, run in Lua 5.1 (the language of Argo
CD's gopher-lua) through lupa, with ``obj`` set the way Argo CD sets it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lupa.lua51 as lua51  # the dev extra pins lupa

HEALTH = Path(__file__).resolve().parents[2] / "deploy" / "argocd" / "health"


def health(script: str, obj: dict[str, Any]) -> tuple[str, str]:
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)

    def table(value: Any) -> Any:
        if isinstance(value, dict):
            return lua.table_from({k: table(v) for k, v in value.items()})
        if isinstance(value, list):
            return lua.table_from([table(v) for v in value])
        return value

    lua.globals().obj = table(obj)
    hs = lua.execute((HEALTH / script).read_text())
    return str(hs["status"]), str(hs["message"])


def policy(state: str | None, conditions: list[dict[str, str]] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "nvidia.com/v1", "kind": "ClusterPolicy",
                           "metadata": {"name": "cluster-policy"}, "spec": {}}  # fmt: skip
    if state is not None or conditions:
        obj["status"] = {"state": state, "conditions": conditions or []}
    return obj


def test_cluster_policy() -> None:
    assert health("clusterpolicy.lua", policy("ready"))[0] == "Healthy"
    assert health("clusterpolicy.lua", policy("notReady"))[0] == "Progressing"
    assert health("clusterpolicy.lua", policy(None)) == (
        "Progressing", "waiting for the GPU Operator to report a state")  # fmt: skip
    assert health("clusterpolicy.lua", policy("ignored"))[0] == "Degraded"
    status, message = health("clusterpolicy.lua", policy("notReady", [
        {"type": "Error", "status": "True", "message": "driver daemonset failed"}]))  # fmt: skip
    assert status == "Progressing" and "driver daemonset failed" in message


def node(labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "gpu-1", "labels": labels}}


def test_node_mig_state() -> None:
    cfg = {"nvidia.com/mig.config": "seed-a100"}
    assert health("node-mig.lua", node({}))[0] == "Healthy"
    assert health("node-mig.lua", node({**cfg, "nvidia.com/mig.config.state": "success"})) == (
        "Healthy", "MIG layout seed-a100 applied")  # fmt: skip
    for state in ("pending", "rebooting"):
        s, m = health("node-mig.lua", node({**cfg, "nvidia.com/mig.config.state": state}))
        assert s == "Progressing" and state in m
    s, m = health("node-mig.lua", node({**cfg, "nvidia.com/mig.config.state": "failed"}))
    assert s == "Degraded" and "seed-a100" in m


def deployment(status: dict[str, Any], *, vllm: bool = True, **spec: Any) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "vllm", "aiplane.dev/model": "llama-70b",
              "aiplane.dev/stage": "canary"} if vllm else {"app": "web"}  # fmt: skip
    probe = {"startupProbe": {"periodSeconds": 10, "failureThreshold": 180}} if vllm else {}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "llama-70b-canary", "generation": 2, "labels": labels},
        "spec": {"replicas": 2, **spec,
                 "template": {"spec": {"containers": [{"name": "vllm", **probe}]}}},
        "status": {"observedGeneration": 2, **status},
    }  # fmt: skip


def test_vllm_readiness() -> None:
    loading = {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}
    s, m = health("deployment.lua", deployment(loading))
    assert s == "Progressing"
    assert m == ("vLLM llama-70b (canary): 1 of 2 replicas serving; the rest are loading "
                 "weights (startup budget 1800 s)")  # fmt: skip
    ready = {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
    assert health("deployment.lua", deployment(ready)) == (
        "Healthy", "vLLM llama-70b (canary): 2 of 2 replicas serving")  # fmt: skip


def test_deployment_keeps_the_built_in_semantics() -> None:
    ready = {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
    assert health("deployment.lua", deployment(ready, vllm=False))[0] == "Healthy"
    stale = deployment(ready, vllm=False)
    stale["status"]["observedGeneration"] = 1
    assert health("deployment.lua", stale)[0] == "Progressing"
    rolling = {"replicas": 3, "updatedReplicas": 1, "availableReplicas": 2}
    assert health("deployment.lua", deployment(rolling, vllm=False))[0] == "Progressing"
    old = {"replicas": 3, "updatedReplicas": 2, "availableReplicas": 2}
    assert "pending termination" in health("deployment.lua", deployment(old, vllm=False))[1]
    stuck = {**ready, "conditions": [{"type": "Progressing", "status": "False",
                                      "reason": "ProgressDeadlineExceeded"}]}  # fmt: skip
    assert health("deployment.lua", deployment(stuck))[0] == "Degraded"
    assert health("deployment.lua", deployment(ready, paused=True))[0] == "Suspended"
    scaled_to_zero = deployment({}, vllm=False, replicas=0)
    assert health("deployment.lua", scaled_to_zero)[0] == "Healthy"
