"""Render with resolved registry references: what vLLM loads, annotations, pipeline wiring."""

from __future__ import annotations

from typing import Any

from aiplane.providers.base import Resolution
from aiplane.render import render_with_warnings
from aiplane.stack.loader import LoadedStack, parse_stack
from aiplane.stack.model_refs import resolution_key

STACK = """\
apiVersion: aiplane.dev/v1alpha1
kind: Stack
metadata: {name: reg, namespace: reg}
spec:
  registries:
    - name: mlflow
      type: mlflow
      uri: https://mlflow.example
      clusterUri: http://mlflow.mlops.svc:5000
      credentials: {secretRef: {name: mlflow-auth, key: token}}
  gpuPools:
    - {name: l4, gpu: L4, nodes: 1, gpusPerNode: 1}
  models:
    - name: llama
      architecture: Qwen2.5-1.5B
      versions:
        - {name: v1, source: "SOURCE"}
      deployments:
        - {version: v1, stage: production}
      pool: l4
      resources: {gpus: 1}
  pipelines:
    - name: release
      steps:
        - name: promote
          kind: promote-model
          modelAction: {model: llama, version: v1, stage: production}
"""


def loaded(source: str) -> LoadedStack:
    return parse_stack(STACK.replace("SOURCE", source).encode(), "reg.yaml")


def resolved(reference: str, artifact: str, version: str = "4") -> dict[str, Resolution]:
    return {resolution_key("mlflow", reference): Resolution(reference, artifact, version)}


def kind(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == name]
    return found


def test_resolved_object_store_artifact_is_loaded_directly() -> None:
    ref = "mlflow://llama@production"
    objects, warnings = render_with_warnings(loaded(ref), None, resolved(ref, "s3://m/llama/4"))
    dep = kind(objects, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"][0] == "s3://m/llama/4"
    assert "initContainers" not in pod
    notes = dep["metadata"]["annotations"]
    assert notes["aiplane.dev/model-version"] == "4"
    assert notes["aiplane.dev/model-artifact"] == "s3://m/llama/4"
    assert notes["aiplane.dev/model-source"] == ref
    assert not [w for w in warnings if "aiplane.lock" in w.message]


def test_artifact_vllm_cannot_read_is_fetched_by_an_init_container() -> None:
    ref = "mlflow://llama@production"
    uri = "mlflow-artifacts:/1/models/m-abc/artifacts"
    objects, _ = render_with_warnings(loaded(ref), None, resolved(ref, uri))
    pod = kind(objects, "Deployment")["spec"]["template"]["spec"]
    [init] = pod["initContainers"]
    assert init["args"][0] == uri
    env = {e["name"]: e for e in init["env"]}
    assert env["MLFLOW_TRACKING_URI"]["value"] == "http://mlflow.mlops.svc:5000"
    assert env["MLFLOW_TRACKING_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "mlflow-auth",
        "key": "token",
    }
    assert pod["containers"][0]["args"][0] == init["args"][1]


def test_unresolved_reference_warns_at_its_line() -> None:
    objects, warnings = render_with_warnings(loaded("mlflow://llama@production"))
    [warning] = [w for w in warnings if "aiplane.lock" in w.message]
    assert warning.line == 17
    assert kind(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"][0] == (
        "mlflow://llama@production"
    )


def test_promote_step_sets_the_alias_on_the_pinned_version_with_wired_credentials() -> None:
    objects, _ = render_with_warnings(
        loaded("mlflow://llama/4"), None, resolved("mlflow://llama/4", "s3://x")
    )
    template = kind(objects, "WorkflowTemplate")
    [step] = [t for t in template["spec"]["templates"] if t["name"] == "promote"]
    container = step["container"]
    assert container["args"] == ["promote-version", "llama", "4", "production", ""]
    env = {e["name"]: e for e in container["env"]}
    assert env["MLFLOW_TRACKING_URI"]["value"] == "http://mlflow.mlops.svc:5000"
    assert env["MLFLOW_RUN_NAME"]["value"] == "{{workflow.name}}-promote"
    assert env["MLFLOW_TRACKING_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "mlflow-auth"
    assert all("value" not in e for e in env.values() if e["name"] == "MLFLOW_TRACKING_TOKEN")
