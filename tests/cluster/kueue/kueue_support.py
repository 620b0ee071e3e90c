"""Helpers of the queueing tests: a per-test stack driven through the CLI, and waits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
CLUSTER_KINDS = (
    "clusterqueues,resourceflavors,workloadpriorityclasses,topologies,priorityclasses,"
    "clusterpolicies"
)


class Stack:
    """One test's stack file and the CLI against the test cluster."""

    def __init__(self, kubeconfig: Path, workdir: Path, kubectl: Callable[..., Any]) -> None:
        self.name = "q" + uuid.uuid4().hex[:8]
        self.file = workdir / f"{self.name}.yaml"
        self.kubectl = kubectl
        # No GPU Operator runs here to make the rendered ClusterPolicy ready: apply does not wait.
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig), "AIPLANE_NO_WAIT": "1"}

    def write(self, spec: dict[str, Any]) -> None:
        doc = {
            "apiVersion": "aiplane.dev/v1alpha1",
            "kind": "Stack",
            "metadata": {"name": self.name, "namespace": self.name},
            "spec": spec,
        }
        self.file.write_text(yaml.safe_dump(doc, sort_keys=False))

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "aiplane", *args],
            cwd=REPO, env=self.env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def workload_of(self, job: str) -> dict[str, Any] | None:
        items = self.json("get", "workloads", "-n", self.name)["items"]
        mine = [w for w in items if any(o["name"] == job for o in w["metadata"]["ownerReferences"])]
        return mine[0] if mine else None

    def destroy(self) -> None:
        self.kubectl("delete", "jobs", "--all", "-n", self.name, "--wait=false", check=False)
        self.kubectl("delete", "namespace", self.name, "--wait=false", check=False)
        self.kubectl(
            "delete", CLUSTER_KINDS, "-l", f"aiplane.dev/stack={self.name}", "--wait=false",
            check=False,
        )  # fmt: skip


def ok(res: subprocess.CompletedProcess[str], code: int = 0) -> str:
    assert res.returncode == code, f"exit {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res.stdout + res.stderr


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == kind:
            return dict(cond)
    return {}


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")
