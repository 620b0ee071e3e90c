"""Registry references through plan and apply: a real MLflow server and the real control plane.

Registry state is set and read back with MLflow's own client, never aiplane's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_plan_apply import Cli, _destroy, ok

from tests.servers.mlflow import RegisteredModel, mlflow_server, registered

__all__ = ["mlflow_server", "registered"]

pytestmark = [pytest.mark.cluster, pytest.mark.mlflow]

STACK = """\
apiVersion: aiplane.dev/v1alpha1
kind: Stack
metadata: {{name: {name}, namespace: {name}}}
spec:
  registries:
    - {{name: mlflow, type: mlflow, uri: "{uri}"}}
  gpuPools: [{{name: h100, gpu: H100-80GB, nodes: 1, gpusPerNode: 8}}]
  models:
    - name: llama
      architecture: Llama-3.1-8B
      versions:
        - {{name: v1, source: "{first}"}}
        - {{name: v2, source: "{second}"}}
      deployments: [{{version: {serve}, stage: production{extra}}}]
      replicas: {replicas}
      pool: h100
"""
NO_WAIT = {"AIPLANE_NO_WAIT": "1"}


@pytest.fixture
def cli(kubeconfig: Path, tmp_path: Path) -> Cli:
    return Cli(kubeconfig, tmp_path)


def write(cli: Cli, name: str, model: RegisteredModel, **kw: Any) -> str:
    values = {"first": f"mlflow://{model.name}@production", "second": f"mlflow://{model.name}/2",
              "serve": "v1", "extra": "", "replicas": 1, **kw}  # fmt: skip
    path = cli.workdir / "stack.yaml"
    path.write_text(STACK.format(name=name, uri=model.server.url, **values))
    return str(path)


def served(kubectl: Any, name: str) -> tuple[str, str]:
    """(vLLM's model argument, aiplane.dev/model-version) of the live Deployment."""
    doc = json.loads(kubectl("get", "deployment", "-n", name, "llama-production", "-o",
                             "json").stdout)  # fmt: skip
    args = doc["spec"]["template"]["spec"]["containers"][0]["args"]
    return args[0], doc["metadata"]["annotations"].get("aiplane.dev/model-version", "")


def test_alias_move_is_warned_refreshed_pinned_and_applied(
    cli: Cli,
    kubeconfig: Path,
    kubectl: Any,
    namespace: str,
    registered: Callable[[], RegisteredModel],
) -> None:
    model = registered()
    name = f"reg-{namespace.rsplit('-', 1)[-1]}"  # a stack name is at most 53 characters
    file = write(cli, name, model)
    kubectl("create", "namespace", "gpu-operator", check=False)
    try:
        ok(cli.run("apply", file, "--yes", "--allow-disruption", env=NO_WAIT))
        assert served(kubectl, name) == (f"s3://models/{model.name}/1", "1")
        lock = json.loads((cli.workdir / "aiplane.lock").read_text())
        versions = {e["reference"]: e["version"] for e in lock["references"]}
        assert versions == {f"mlflow://{model.name}@production": "1",
                            f"mlflow://{model.name}/2": "2"}  # fmt: skip
        ok(cli.run("plan", file, "--detailed-exitcode", env=NO_WAIT))

        # A plan saved before the alias moves is refused at apply.
        write(cli, name, model, replicas=2)
        ok(cli.run("plan", file, "--out", str(cli.workdir / "p1.json"), env=NO_WAIT))
        model.server.client({"op": "set_alias", "name": model.name, "alias": "production",
                             "version": "2"})  # fmt: skip
        res = cli.run("apply", str(cli.workdir / "p1.json"), "--yes", env=NO_WAIT)
        assert res.returncode == 1
        assert f"plan is stale: mlflow model {model.name} alias production moved 1 -> 2" in (
            res.stdout + res.stderr
        )

        # Without refresh the lock wins, with a warning; --refresh takes the move.
        write(cli, name, model)
        out = ok(cli.run("plan", file, "--detailed-exitcode", env=NO_WAIT))
        assert "alias production moved upstream since the lock (1 -> 2)" in out
        res = cli.run("plan", file, "--refresh", "--detailed-exitcode", env=NO_WAIT)
        out = ok(res, 2)
        assert "model llama production: mlflow alias production 1 -> 2 (registered" in out
        assert "rolling-restart" in out and f"s3://models/{model.name}/2" in out
        ok(cli.run("apply", file, "--yes", "--allow-disruption", env=NO_WAIT))
        assert served(kubectl, name) == (f"s3://models/{model.name}/2", "2")
        out = ok(cli.run("plan", file, "--detailed-exitcode", env=NO_WAIT))
        assert "no changes" in out
    finally:
        _destroy(kubeconfig, file)


def test_changing_the_promoted_version_moves_the_alias_in_mlflow(
    cli: Cli,
    kubeconfig: Path,
    kubectl: Any,
    namespace: str,
    registered: Callable[[], RegisteredModel],
) -> None:
    model = registered()
    kubectl("create", "namespace", "gpu-operator", check=False)
    pinned = {"first": f"mlflow://{model.name}/1", "extra": ", promoteAlias: production"}
    name = f"promo-{namespace.rsplit('-', 1)[-1]}"
    file = write(cli, name, model, **pinned)
    try:
        ok(cli.run("apply", file, "--yes", "--allow-disruption", env=NO_WAIT))
        assert model.server.alias_version(model.name, "production") == "1"
        write(cli, name, model, **pinned, serve="v2")
        out = ok(cli.run("plan", file, "--detailed-exitcode", env=NO_WAIT), 2)
        assert f"mlflow alias production of {model.name} 1 -> 2, once model llama production" in out
        ok(cli.run("apply", file, "--yes", "--allow-disruption", env=NO_WAIT))
        assert model.server.alias_version(model.name, "production") == "2"
        assert "no changes" in ok(cli.run("plan", file, "--detailed-exitcode", env=NO_WAIT))
    finally:
        _destroy(kubeconfig, file)
