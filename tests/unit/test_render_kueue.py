"""Kueue queues from pools and priorities; batch jobs and pipeline steps that queue; the check
that a queued request fits some quota."""

from __future__ import annotations

import textwrap
from typing import Any

from aiplane.check import check_stack
from aiplane.render import render_stack
from aiplane.stack.loader import LoadedStack, parse_stack

STACK = """\
apiVersion: aiplane.dev/v1alpha1
kind: Stack
metadata: {name: s, namespace: ml}
spec:
  priorities:
    classes:
      - {name: high, value: 1000}
      - {name: low, value: 10, description: Batch work.}
  gpuPools:
    - name: train
      gpu: H100-80GB
      nodes: 2
      gpusPerNode: 8
      taints: [{key: nvidia.com/gpu, value: present}]
    - name: mig
      gpu: A100-80GB
      nodes: 1
      gpusPerNode: 8
      labels: {nvidia.com/gpu.clique: abc}
      mig:
        policy: explicit
        devices:
          - {gpus: [0, 1], profiles: {3g.40gb: 2}}
  queues:
    namespaces: [research]
    pools:
      - {pool: train, borrowingLimit: 4, lendingLimit: 2}
  models:
    - name: big
      versions: [{name: v1, source: hf://org/big}]
      deployments: [{version: v1, stage: production, weight: 100}]
      resources: {gpus: 4}
      serving: {tensorParallelSize: 4}
      replicas: 2
      pool: train
    - name: small
      versions: [{name: v1, source: hf://org/small}]
      deployments: [{version: v1, stage: production, weight: 100}]
      resources: {migProfile: 3g.40gb}
      pool: mig
  pipelines:
    - name: tune
      steps:
        - {name: train, image: trainer:1, pool: train, priority: low, resources: {gpus: 4}}
        - {name: prep, image: prep:1, resources: {cpu: 2}}
  batchJobs:
    - name: score
      image: scorer:1
      command: [score]
      pool: train
      gpus: 2
      parallelism: 2
      completions: 4
      priority: low
      deadlineSeconds: 600
"""


def loaded(text: str = STACK) -> LoadedStack:
    return parse_stack(text.encode(), "s.yaml")


def objects(kind: str, text: str = STACK) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in render_stack(loaded(text)) if o["kind"] == kind}


def test_cluster_queue_quota_is_capacity_minus_serving() -> None:
    queues = objects("ClusterQueue")
    train = queues["s-train"]["spec"]
    # 2 nodes × 8 GPUs, minus 2 replicas × 4 GPUs of model big.
    assert train["resourceGroups"] == [
        {
            "coveredResources": ["nvidia.com/gpu"],
            "flavors": [
                {
                    "name": "s-train",
                    "resources": [
                        {
                            "name": "nvidia.com/gpu",
                            "nominalQuota": "8",
                            "borrowingLimit": "4",
                            "lendingLimit": "2",
                        },
                    ],
                }
            ],
        }
    ]
    assert train["cohortName"] == "s"
    assert train["namespaceSelector"]["matchExpressions"][0]["values"] == ["ml", "research"]
    assert train["preemption"]["withinClusterQueue"] == "LowerPriority"
    mig = queues["s-mig"]["spec"]["resourceGroups"][0]["flavors"][0]["resources"]
    # GPUs 0-1 are 2 × 3g.40gb each (one taken by model small), GPUs 2-7 stay whole.
    assert {r["name"]: r["nominalQuota"] for r in mig} == {
        "nvidia.com/gpu": "6",
        "nvidia.com/mig-3g.40gb": "3",
    }


def test_flavors_priorities_local_queues_and_topologies() -> None:
    flavors = objects("ResourceFlavor")
    assert flavors["s-train"]["spec"] == {
        "nodeLabels": {"aiplane.dev/pool": "train"},
        "topologyName": "s-node",
        "tolerations": [
            {
                "key": "nvidia.com/gpu",
                "operator": "Equal",
                "value": "present",
                "effect": "NoSchedule",
            }
        ],
    }
    assert flavors["s-mig"]["spec"]["topologyName"] == "s-nvlink"
    classes = objects("WorkloadPriorityClass")
    assert {n: c["value"] for n, c in classes.items()} == {"high": 1000, "low": 10}
    assert classes["low"]["description"] == "Batch work."
    local = [o for o in render_stack(loaded()) if o["kind"] == "LocalQueue"]
    assert sorted((q["metadata"]["namespace"], q["metadata"]["name"]) for q in local) == [
        ("ml", "mig"), ("ml", "train"), ("research", "mig"), ("research", "train"),
    ]  # fmt: skip
    topologies = objects("Topology")
    assert topologies["s-node"]["spec"]["levels"] == [{"nodeLabel": "kubernetes.io/hostname"}]
    assert [lv["nodeLabel"] for lv in topologies["s-nvlink"]["spec"]["levels"]] == [
        "nvidia.com/gpu.clique",
        "kubernetes.io/hostname",
    ]


def test_batch_job_is_suspended_in_its_queue() -> None:
    job = objects("Job")["score"]
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "train"
    assert job["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] == "low"
    spec = job["spec"]
    # Kueue's webhook suspends it on creation; aiplane never sends suspend (see batch_jobs.py).
    assert "suspend" not in spec
    assert (spec["parallelism"], spec["completions"]) == (2, 4)
    assert spec["activeDeadlineSeconds"] == 600
    pod = spec["template"]
    # 2 pods × 2 GPUs fit one 8-GPU node: Kueue must find one node with all four free.
    assert pod["metadata"]["annotations"] == {
        "kueue.x-k8s.io/podset-required-topology": "kubernetes.io/hostname"
    }
    assert "nodeSelector" not in pod["spec"]  # the flavor adds it on admission
    assert pod["spec"]["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": "2"}


def test_gpu_steps_carry_queue_labels_and_cpu_steps_do_not() -> None:
    template = objects("WorkflowTemplate")["tune"]
    steps = {t["name"]: t for t in template["spec"]["templates"]}
    assert steps["train"]["metadata"]["labels"] == {
        "kueue.x-k8s.io/queue-name": "train",
        "kueue.x-k8s.io/priority-class": "low",
    }
    assert steps["train"]["metadata"]["annotations"] == {
        "kueue.x-k8s.io/podset-required-topology": "kubernetes.io/hostname"
    }
    assert "metadata" not in steps["prep"] or not steps["prep"]["metadata"].get("labels")


def test_without_queues_nothing_queues() -> None:
    text = STACK.replace("  queues:\n    namespaces: [research]\n    pools:\n"
                         "      - {pool: train, borrowingLimit: 4, lendingLimit: 2}\n", "")  # fmt: skip
    assert "queues:" not in text
    rendered = render_stack(loaded(text))
    assert not [o for o in rendered if o["apiVersion"].startswith("kueue.x-k8s.io")]
    job = next(o for o in rendered if o["kind"] == "Job")
    assert "suspend" not in job["spec"]
    assert job["spec"]["template"]["spec"]["nodeSelector"] == {"aiplane.dev/pool": "train"}


def errors(text: str) -> list[str]:
    return [d.format() for d in check_stack(loaded(text)) if d.severity == "error"]


def test_request_larger_than_any_quota_is_an_error_at_its_line() -> None:
    text = STACK.replace(
        "      gpus: 2\n      parallelism: 2\n", "      gpus: 8\n      parallelism: 2\n"
    )
    found = errors(text)
    line = text.splitlines().index("      gpus: 8") + 1
    # 16 GPUs; queue s-train has 8 nominal and may borrow at most 4 (its borrowingLimit).
    assert found == [
        f"s.yaml:{line}:7: spec.batchJobs[0].gpus: batch job score needs 16 GPUs, the largest "
        "quota is 12 (queue s-train: 8 nominal + 4 borrowable) (lower the request or "
        "parallelism, add nodes to the pool, or raise borrowing limits)"
    ]
    assert errors(STACK) == []


def test_step_over_quota_and_bad_references() -> None:
    text = STACK.replace("pool: train, priority: low, resources: {gpus: 4}",
                         "pool: train, priority: low, resources: {gpus: 16}")  # fmt: skip
    assert any("step tune/train needs 16 GPUs, the largest quota is 12" in e for e in errors(text))
    text = STACK.replace(
        "      priority: low\n      deadlineSeconds", "      priority: lo\n      deadlineSeconds"
    )
    assert any("spec.batchJobs[0].priority: unknown priority" in e for e in errors(text))
    text = STACK.replace("{pool: train, borrowingLimit", "{pool: trian, borrowingLimit")
    assert any(
        "spec.queues.pools[0].pool: unknown pool (did you mean 'train'?)" in e for e in errors(text)
    )


def test_batch_job_needs_one_kind_of_gpu_request() -> None:
    text = textwrap.dedent(STACK).replace(
        "      gpus: 2\n", "      gpus: 2\n      migProfile: 3g.40gb\n"
    )
    assert any("asks for both gpus and migProfile" in e for e in errors(text))


def test_explain_shows_queue_quotas_next_to_the_placement(
    tmp_path: Any, capsys: Any, monkeypatch: Any
) -> None:
    import json

    from aiplane.commands.explain import explain_main

    file = tmp_path / "s.yaml"
    file.write_text(STACK)
    monkeypatch.chdir(tmp_path)
    assert explain_main(str(file), as_json=True) == 0
    doc = json.loads(capsys.readouterr().out)
    train = next(q for q in doc["queues"] if q["pool"] == "train")
    assert train["clusterQueue"] == "s-train"
    assert (train["capacity"], train["serving"], train["nominalQuota"]) == (
        {"nvidia.com/gpu": 16},
        {"nvidia.com/gpu": 8},
        {"nvidia.com/gpu": 8},
    )
    assert explain_main(str(file), as_json=False) == 0
    text = capsys.readouterr().out
    assert "Queues (Kueue)" in text and "s-train" in text
