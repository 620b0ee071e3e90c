"""SageMaker model package references, resolved against moto's server mode (AWS stand-in).

Packages are created and approved with boto3 straight against moto, not through aiplane.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from aiplane.cli import main
from tests.servers.moto import AWS_ENV, REGION, MotoServer, moto_server

__all__ = ["moto_server"]

pytestmark = pytest.mark.moto

STACK = """\
apiVersion: aiplane.dev/v1alpha1
kind: Stack
metadata: {name: sm, namespace: sm}
spec:
  registries:
    - {name: sm, type: sagemaker, uri: "URI", region: us-east-1}
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
"""


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)


def sagemaker(server: MotoServer) -> Any:
    import boto3

    return boto3.client("sagemaker", region_name=REGION, endpoint_url=server.url)


def make_group(server: MotoServer, approvals: list[str]) -> tuple[str, list[str]]:
    """A package group with one package per approval status; (group, package ARNs)."""
    client = sagemaker(server)
    group = f"llama-{uuid.uuid4().hex[:8]}"
    client.create_model_package_group(ModelPackageGroupName=group)
    arns = []
    for n, approval in enumerate(approvals, start=1):
        answer = client.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus=approval,
            InferenceSpecification={
                "Containers": [{"Image": "vllm/vllm-openai:v0.11.0",
                                "ModelDataUrl": f"s3://models/{group}/{n}/model.tar.gz"}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
        )  # fmt: skip
        arns.append(answer["ModelPackageArn"])
    return group, arns


def lock_update(tmp_path: Path, server: MotoServer, source: str, capsys: Any) -> tuple[int, str]:
    stack = tmp_path / "stack.yaml"
    stack.write_text(STACK.replace("URI", server.url).replace("SOURCE", source))
    with pytest.raises(SystemExit) as exit_info:
        main(["lock", "update", str(stack)])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out + err


def locked(tmp_path: Path) -> dict[str, Any]:
    [entry] = json.loads((tmp_path / "aiplane.lock").read_text())["references"]
    result: dict[str, Any] = entry
    return result


def test_versioned_package_resolves_to_its_model_data(
    tmp_path: Path, moto_server: MotoServer, aws: None, capsys: Any
) -> None:
    group, arns = make_group(moto_server, ["Approved", "PendingManualApproval"])
    code, text = lock_update(tmp_path, moto_server, arns[1], capsys)
    assert code == 0, text
    entry = locked(tmp_path)
    assert entry["version"] == "2"
    assert entry["artifact_uri"] == f"s3://models/{group}/2/model.tar.gz"
    assert entry["status"] == "PendingManualApproval"


def test_group_resolves_to_the_latest_approved_package_and_follows_approvals(
    tmp_path: Path, moto_server: MotoServer, aws: None, capsys: Any
) -> None:
    group, arns = make_group(moto_server, ["Approved", "Approved", "PendingManualApproval"])
    source = f"arn:aws:sagemaker:{REGION}:123456789012:model-package-group/{group}"
    code, text = lock_update(tmp_path, moto_server, source, capsys)
    assert code == 0, text
    assert locked(tmp_path)["version"] == "2"
    sagemaker(moto_server).update_model_package(ModelPackageArn=arns[2],
                                                ModelApprovalStatus="Approved")  # fmt: skip
    code, text = lock_update(tmp_path, moto_server, source, capsys)
    assert code == 0, text
    assert "model llama production: sagemaker latest approved 2 -> 3" in text
    assert locked(tmp_path)["artifact_uri"] == f"s3://models/{group}/3/model.tar.gz"


def test_group_without_an_approved_package_is_a_located_error(
    tmp_path: Path, moto_server: MotoServer, aws: None, capsys: Any
) -> None:
    group, _ = make_group(moto_server, ["PendingManualApproval"])
    source = f"arn:aws:sagemaker:{REGION}:123456789012:model-package-group/{group}"
    code, text = lock_update(tmp_path, moto_server, source, capsys)
    assert code == 1
    assert (
        f"stack.yaml:13:22: spec.models[0].versions[0].source: sagemaker model package group {group} has no approved package"
        in text
    )
