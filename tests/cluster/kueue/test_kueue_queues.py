"""Queues rendered by aiplane, applied with ``aiplane apply`` and run by the real Kueue controller.

kwok completes a Job's pods as soon as they run, so a Job that must hold its quota for a while
runs many pods one after another (completions: 40 or 50, parallelism 1). Each test has its own
stack (and so its own cluster-scoped
queues, flavors and priority classes) and deletes them afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kueue_support import Stack, condition, ok, wait_for

pytestmark = pytest.mark.cluster


@pytest.fixture
def stack(kubeconfig: Path, tmp_path: Path, kubectl: Any, kueue: Any) -> Iterator[Stack]:
    made = Stack(kubeconfig, tmp_path, kubectl)
    yield made
    made.destroy()


def _spec(stack: Stack, nodes: int, jobs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "priorities": {
            "classes": [
                {"name": f"{stack.name}-high", "value": 1000},
                {"name": f"{stack.name}-low", "value": 10},
            ]
        },
        "gpuPools": [
            {
                "name": "train",
                "gpu": "H100-80GB",
                "nodes": nodes,
                "gpusPerNode": 8,
                "nodeSelector": {"aiplane.test/pool": stack.name},
            }
        ],
        "queues": {},
        "batchJobs": jobs,
    }


def _job(name: str, priority: str, gpus: int = 8, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox:1.36", "command": ["true"], "pool": "train",
            "gpus": gpus, "priority": priority, **extra}  # fmt: skip


def test_over_quota_job_waits_and_is_admitted_when_the_first_finishes(
    stack: Stack, gpu_nodes: Any
) -> None:
    gpu_nodes("H100", 1, labels={"aiplane.test/pool": stack.name})
    low = f"{stack.name}-low"
    # "first" runs 40 pods one after another (kwok finishes each as soon as it runs), so it
    # holds the pool's 8 GPUs for a while; "second" needs the same 8.
    first = _job("first", low, completions=40)
    stack.write(_spec(stack, 1, [first]))
    ok(stack.cli("apply", str(stack.file), "--yes"))
    wait_for(
        "first admitted",
        lambda: condition(stack.workload_of("first"), "Admitted").get("status") == "True",
    )
    # Applied after first is admitted: two Jobs created in the same second would be ordered by
    # Kueue's tie-break, not by the test.
    stack.write(_spec(stack, 1, [first, _job("second", low)]))
    ok(stack.cli("apply", str(stack.file), "--yes"))
    second = wait_for(
        "second waiting for quota",
        lambda: (
            (w := stack.workload_of("second"))
            and condition(w, "QuotaReserved").get("status") == "False"
            and w
        ),
    )
    assert "insufficient" in condition(second, "QuotaReserved")["message"].lower(), second
    first_job = stack.json("get", "job", "first", "-n", stack.name)
    assert not condition(first_job, "Complete"), "first finished before second was seen waiting"
    assert stack.json("get", "job", "second", "-n", stack.name)["spec"]["suspend"] is True
    admitted = wait_for(
        "second admitted",
        lambda: (
            condition(stack.workload_of("second"), "Admitted").get("status") == "True"
            and condition(stack.workload_of("second"), "Admitted")
        ),
        timeout=180,
    )
    done = condition(stack.json("get", "job", "first", "-n", stack.name), "Complete")
    assert done.get("status") == "True", "second was admitted before first finished"
    assert admitted["lastTransitionTime"] >= done["lastTransitionTime"]
    # Kueue changed the Jobs (suspend, node selectors, gates); aiplane sends none of those fields.
    res = stack.cli("plan", str(stack.file), "--detailed-exitcode")
    assert res.returncode == 0, res.stdout + res.stderr


def test_queues_apply_cleanly_and_plan_empty(stack: Stack, gpu_nodes: Any) -> None:
    gpu_nodes("H100", 1, labels={"aiplane.test/pool": stack.name})
    stack.write(_spec(stack, 1, []))
    out = ok(stack.cli("apply", str(stack.file), "--yes"))
    assert "apply complete" in out
    res = stack.cli("plan", str(stack.file), "--detailed-exitcode")
    assert res.returncode == 0, res.stdout + res.stderr
    queue = stack.json("get", "clusterqueue", f"{stack.name}-train")
    quota = queue["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]
    assert quota == {"name": "nvidia.com/gpu", "nominalQuota": "8"}
    assert condition(queue, "Active").get("status") == "True", queue.get("status")
    local = stack.json("get", "localqueue", "train", "-n", stack.name)
    assert local["spec"]["clusterQueue"] == f"{stack.name}-train"


def test_higher_priority_preempts_lower(stack: Stack, gpu_nodes: Any) -> None:
    gpu_nodes("H100", 1, labels={"aiplane.test/pool": stack.name})
    background = _job("background", f"{stack.name}-low", completions=50)
    stack.write(_spec(stack, 1, [background]))
    ok(stack.cli("apply", str(stack.file), "--yes"))
    wait_for(
        "background admitted",
        lambda: condition(stack.workload_of("background"), "Admitted").get("status") == "True",
    )
    stack.write(_spec(stack, 1, [background, _job("urgent", f"{stack.name}-high")]))
    ok(stack.cli("apply", str(stack.file), "--yes"))
    evicted = wait_for(
        "background evicted",
        lambda: (
            condition(stack.workload_of("background"), "Evicted").get("status") == "True"
            and condition(stack.workload_of("background"), "Evicted")
        ),
    )
    assert evicted["reason"] == "Preempted", evicted
    wait_for(
        "urgent admitted",
        lambda: condition(stack.workload_of("urgent"), "Admitted").get("status") == "True",
    )
    assert not condition(stack.json("get", "job", "background", "-n", stack.name), "Complete")


def test_eight_gpu_job_lands_on_one_node_that_has_them(
    stack: Stack, gpu_nodes: Any, control_plane: Any
) -> None:
    labels = {"aiplane.test/pool": stack.name}
    small = gpu_nodes("H100", 1, labels=labels, gpus_per_node=4)
    big = gpu_nodes("H100", 1, labels=labels, gpus_per_node=8)
    job = _job("allreduce", f"{stack.name}-high", gpus=4, parallelism=2, completions=2)
    stack.write(_spec(stack, 2, [job]))
    res = stack.cli("render", str(stack.file))
    ok(res)
    jobs = [d for d in yaml.safe_load_all(res.stdout) if d and d["kind"] == "Job"]
    annotations = jobs[0]["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"kueue.x-k8s.io/podset-required-topology": "kubernetes.io/hostname"}
    ok(stack.cli("apply", str(stack.file), "--yes"))
    workload = wait_for(
        "allreduce admitted",
        lambda: (
            condition(stack.workload_of("allreduce"), "Admitted").get("status") == "True"
            and stack.workload_of("allreduce")
        ),
    )
    assignment = workload["status"]["admission"]["podSetAssignments"][0]["topologyAssignment"]
    assert big[0] in json.dumps(assignment) and small[0] not in json.dumps(assignment)
    pods = wait_for(
        "two pods bound",
        lambda: (
            [
                p
                for p in stack.json("get", "pods", "-n", stack.name, "-l", "job-name=allreduce")[
                    "items"
                ]
                if p["spec"].get("nodeName")
            ]
            if len(stack.json("get", "pods", "-n", stack.name, "-l", "job-name=allreduce")["items"])
            >= 2
            else None
        ),
    )
    assert {p["spec"]["nodeName"] for p in pods} == {big[0]}
