"""Resolution, the lock and render against a real MLflow server.

Registry state is set and read back with MLflow's own client (``MlflowServer.client``).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from aiplane.check import load_and_check
from aiplane.cli import main
from aiplane.registry.commands import resolve_for_plan
from tests.servers.mlflow import RegisteredModel
from tests.servers.support import free_port

pytestmark = pytest.mark.mlflow


STACK = """\
apiVersion: aiplane.dev/v1alpha1
kind: Stack
metadata: {name: reg, namespace: reg}
spec:
  registries:
    - {name: mlflow, type: mlflow, uri: "URI"}
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
SOURCE_AT = "13:22"
"""Line and column of the version's source in ``STACK``."""


def write_stack(folder: Path, uri: str, source: str) -> Path:
    path = folder / "stack.yaml"
    path.write_text(STACK.replace("URI", uri).replace("SOURCE", source))
    return path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def deployment(rendered: str) -> dict[str, object]:
    docs = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment"]
    assert len(docs) == 1
    doc: dict[str, object] = docs[0]
    return doc


def test_lock_update_pins_the_alias_and_render_loads_its_artifact(
    tmp_path: Path, registered: Callable[[], RegisteredModel], capsys: pytest.CaptureFixture[str]
) -> None:
    model = registered()
    stack = write_stack(tmp_path, model.server.url, f"mlflow://{model.name}@production")
    code, out, err = cli(capsys, "lock", "update", str(stack))
    assert code == 0, err
    assert "model llama production: mlflow alias production -> 1 (new in aiplane.lock" in out
    lock = json.loads((tmp_path / "aiplane.lock").read_text())
    [entry] = lock["references"]
    assert (entry["version"], entry["artifact_uri"]) == ("1", f"s3://models/{model.name}/1")
    assert entry["run_id"] == model.run_id and entry["status"] == "READY"

    code, rendered, err = cli(capsys, "render", str(stack))
    assert code == 0, err
    dep = deployment(rendered)
    annotations = dep["metadata"]["annotations"]  # type: ignore[index]
    assert annotations["aiplane.dev/model-version"] == "1"
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]  # type: ignore[index]
    assert args[0] == f"s3://models/{model.name}/1"
    assert "--load-format" in args


def test_render_with_only_the_lock_needs_no_network_and_is_byte_identical(
    tmp_path: Path,
    registered: Callable[[], RegisteredModel],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = registered()
    stack = write_stack(tmp_path, model.server.url, f"models:/{model.name}@production")
    assert cli(capsys, "lock", "update", str(stack))[0] == 0
    import httpx

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("render opened an HTTP client")

    monkeypatch.setattr(httpx.Client, "__init__", no_network)
    first = cli(capsys, "render", str(stack))
    second = cli(capsys, "render", str(stack))
    assert first[0] == 0 and first == second
    assert f"s3://models/{model.name}/1" in first[1]


def test_plan_step_warns_when_the_alias_moved_and_refresh_takes_it(
    tmp_path: Path, registered: Callable[[], RegisteredModel], capsys: pytest.CaptureFixture[str]
) -> None:
    model = registered()
    stack = write_stack(tmp_path, model.server.url, f"mlflow://{model.name}@production")
    assert cli(capsys, "lock", "update", str(stack))[0] == 0
    model.server.client({"op": "set_alias", "name": model.name, "alias": "production",
                         "version": "2"})  # fmt: skip
    loaded = load_and_check(str(stack))
    stale = resolve_for_plan(loaded, refresh=False)
    assert [r.version for r in stale.resolved.values()] == ["1"]
    [warning] = stale.warnings
    assert "alias production moved upstream since the lock (1 -> 2)" in warning.format()
    assert warning.format().startswith(f"{stack}:{SOURCE_AT.split(':')[0]}:")

    fresh = resolve_for_plan(loaded, refresh=True)
    [move] = fresh.moves
    day = time.strftime("%Y-%m-%d", time.gmtime())
    assert move.line() == (
        f"model llama production: mlflow alias production 1 -> 2 "
        f"(registered {day}, run {model.run_id[:7]})"
    )
    lock = json.loads((tmp_path / "aiplane.lock").read_text())
    assert lock["references"][0]["version"] == "2"
    # The registry itself still says 2 (read through MLflow's client, not aiplane).
    assert model.server.alias_version(model.name, "production") == "2"


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line and not line.endswith("error(s)")]


def test_unknown_alias_is_located_and_lists_the_aliases(
    tmp_path: Path, registered: Callable[[], RegisteredModel], capsys: pytest.CaptureFixture[str]
) -> None:
    model = registered()
    stack = write_stack(tmp_path, model.server.url, f"mlflow://{model.name}@champion")
    code, _out, err = cli(capsys, "lock", "update", str(stack))
    assert code == 1
    [line] = error_lines(err)
    assert line == (
        f"{stack}:{SOURCE_AT}: spec.models[0].versions[0].source: mlflow model {model.name} has no "
        "alias 'champion' (its aliases: production -> 1)"
    )
    assert not (tmp_path / "aiplane.lock").exists()


def test_unknown_model_is_located(
    tmp_path: Path, registered: Callable[[], RegisteredModel], capsys: pytest.CaptureFixture[str]
) -> None:
    model = registered()
    stack = write_stack(tmp_path, model.server.url, f"mlflow://{model.name}-nope/1")
    code, _out, err = cli(capsys, "lock", "update", str(stack))
    assert code == 1
    [line] = error_lines(err)
    assert line.startswith(f"{stack}:{SOURCE_AT}: spec.models[0].versions[0].source: ")
    assert f"mlflow model {model.name}-nope does not exist" in line


def test_a_failed_registration_is_an_error_with_its_status_message(
    tmp_path: Path, registered: Callable[[], RegisteredModel], capsys: pytest.CaptureFixture[str]
) -> None:
    model = registered()
    model.server.fail_version(model.name, "3", "copy of s3://models/x/3 failed: access denied")
    stack = write_stack(tmp_path, model.server.url, f"mlflow://{model.name}/3")
    code, _out, err = cli(capsys, "lock", "update", str(stack))
    assert code == 1
    [line] = error_lines(err)
    assert line.startswith(f"{stack}:{SOURCE_AT}: ")
    assert (
        f"mlflow model {model.name} version 3 is FAILED_REGISTRATION: copy of "
        "s3://models/x/3 failed: access denied"
    ) in line


def test_unreachable_registry_fails_fast_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = write_stack(tmp_path, f"http://127.0.0.1:{free_port()}", "mlflow://llama@production")
    started = time.monotonic()
    code, _out, err = cli(capsys, "lock", "update", str(stack))
    assert code == 1 and time.monotonic() - started < 10
    [line] = error_lines(err)
    assert line.startswith(f"{stack}:{SOURCE_AT}: ") and "cannot connect" in line


def test_silent_registry_times_out_within_the_bound(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A socket that accepts connections (kernel backlog) but never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        monkeypatch.setenv("AIPLANE_REGISTRY_TIMEOUT", "2")
        stack = write_stack(tmp_path, f"http://127.0.0.1:{port}", "mlflow://llama@production")
        started = time.monotonic()
        code, _out, err = cli(capsys, "lock", "update", str(stack))
        elapsed = time.monotonic() - started
    assert code == 1 and elapsed < 10
    [line] = error_lines(err)
    assert "no answer within 2s" in line


def test_a_server_refusing_the_host_header_is_one_line(
    tmp_path: Path, registered: Callable[[], RegisteredModel], capsys: pytest.CaptureFixture[str]
) -> None:
    model = registered()
    # The session's server allows only Host 127.0.0.1[:port]; "localhost" is refused.
    uri = f"http://localhost:{model.server.port}"
    stack = write_stack(tmp_path, uri, f"mlflow://{model.name}@production")
    code, _out, err = cli(capsys, "lock", "update", str(stack))
    assert code == 1
    [line] = error_lines(err)
    assert line.startswith(f"{stack}:{SOURCE_AT}: ")
    assert f"mlflow {uri}: HTTP 403: Invalid Host header" in line
    assert "--allowed-hosts" in line


def test_offline_plan_refresh_shows_the_move_and_updates_the_lock(
    tmp_path: Path, registered: Callable[[], RegisteredModel], capsys: pytest.CaptureFixture[str]
) -> None:
    model = registered()
    stack = write_stack(tmp_path, model.server.url, f"mlflow://{model.name}@production")
    code, out, err = cli(capsys, "plan", str(stack), "--against", "empty")
    assert code == 0, err
    assert json.loads((tmp_path / "aiplane.lock").read_text())["references"][0]["version"] == "1"
    model.server.client({"op": "set_alias", "name": model.name, "alias": "production",
                         "version": "3"})  # fmt: skip
    code, out, err = cli(capsys, "plan", str(stack), "--against", "empty")
    assert code == 0, err
    assert "alias production moved upstream since the lock (1 -> 3)" in out
    assert f"s3://models/{model.name}/1" in out
    code, out, err = cli(capsys, "plan", str(stack), "--against", "empty", "--refresh")
    assert code == 0, err
    assert "model llama production: mlflow alias production 1 -> 3 (registered" in out
    assert f"s3://models/{model.name}/3" in out
    assert json.loads((tmp_path / "aiplane.lock").read_text())["references"][0]["version"] == "3"
