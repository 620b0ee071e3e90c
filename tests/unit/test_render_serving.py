"""Serving that starts: secret env, ServiceAccount, model cache claim, host requests, scraping."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from aiplane.check import load_and_check
from aiplane.errors import StackError
from aiplane.render import render_stack

BASE = """\
apiVersion: aiplane.dev/v1alpha1
kind: Stack
metadata: {name: serve, namespace: ai}
spec:
  gpuPools:
    - {name: pool, gpu: H100-80GB, gpusPerNode: 8}
  models:
    - name: m
      architecture: {parametersB: 8, layers: 32, kvHeads: 8, headDim: 128}
      versions: [{name: v1, source: "s3://models/m"}]
      deployments: [{version: v1, stage: production}]
      serving:
SERVING
      env: {MODE: model-wins}
      resources: RESOURCES
      pool: pool
"""


def render(tmp_path: Path, serving: str, resources: str = "{gpus: 2}") -> list[dict[str, Any]]:
    body = textwrap.indent(textwrap.dedent(serving), " " * 8)
    text = BASE.replace("SERVING\n", body).replace("RESOURCES", resources)
    path = tmp_path / "stack.yaml"
    path.write_text(text)
    return list(render_stack(load_and_check(str(path))))


def pod(objs: list[dict[str, Any]]) -> dict[str, Any]:
    deploy = next(o for o in objs if o["kind"] == "Deployment")
    spec: dict[str, Any] = deploy["spec"]["template"]
    return spec


def test_env_service_account_created_cache_and_pod_monitor(tmp_path: Path) -> None:
    objs = render(tmp_path, """\
        tensorParallelSize: 2
        env:
          HF_TOKEN: {secretRef: {name: hf, key: token}}
          MODE: serving
        serviceAccountName: reader
        cache: {size: 50Gi, storageClass: fast}
        metrics: podMonitor
        """)  # fmt: skip
    template = pod(objs)
    spec = template["spec"]
    container = spec["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["HF_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": "hf", "key": "token"}}
    assert env["MODE"]["value"] == "model-wins"
    assert spec["serviceAccountName"] == "reader"
    cache = next(v for v in spec["volumes"] if v["name"] == "model-cache")
    assert cache == {"name": "model-cache", "persistentVolumeClaim": {"claimName": "m-cache"}}
    pvc = next(o for o in objs if o["kind"] == "PersistentVolumeClaim")
    assert (pvc["metadata"]["name"], pvc["metadata"]["namespace"]) == ("m-cache", "ai")
    assert pvc["spec"] == {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast",
                           "resources": {"requests": {"storage": "50Gi"}}}  # fmt: skip
    assert template["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    monitor = next(o for o in objs if o["kind"] == "PodMonitor")
    assert monitor["metadata"]["annotations"]["aiplane.dev/only-if-served"] == "true"
    assert monitor["spec"]["selector"]["matchLabels"]["aiplane.dev/model"] == "m"
    # 8B parameters in bf16: ~14.9 GiB over 2 GPU workers, 4 GiB each -> 8 + 7.45 -> 16Gi
    assert container["resources"]["requests"] == {"cpu": "5", "memory": "16Gi"}


def test_existing_claim_explicit_requests_and_no_metrics(tmp_path: Path) -> None:
    objs = render(tmp_path, """\
        cache: {claimName: shared-cache}
        metrics: none
        """, "{gpus: 1, cpu: \"6\", memory: 40Gi}")  # fmt: skip
    spec = pod(objs)["spec"]
    assert {"name": "model-cache", "persistentVolumeClaim": {"claimName": "shared-cache"}} in (
        spec["volumes"])  # fmt: skip
    assert not any(o["kind"] in ("PersistentVolumeClaim", "PodMonitor") for o in objs)
    assert "annotations" not in pod(objs)["metadata"]
    res = spec["containers"][0]["resources"]
    assert res["requests"] == {"cpu": "6", "memory": "40Gi"} and res["limits"]["memory"] == "40Gi"


def test_cache_needs_one_source_and_serving_env_refuses_literal_credentials(
    tmp_path: Path,
) -> None:
    with pytest.raises(StackError) as info:
        render(tmp_path, "cache: {claimName: c, size: 1Gi}\n")
    assert "exactly one of claimName" in info.value.diagnostics[0].format()
    with pytest.raises(StackError) as info:
        render(tmp_path, "env: {HF_TOKEN: hf_literal_value}\n")
    text = "\n".join(d.format() for d in info.value.diagnostics)
    assert "spec.models[0].serving.env" in text and "hf_literal_value" not in text
