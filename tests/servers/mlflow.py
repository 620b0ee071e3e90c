"""A real MLflow tracking server for the registry tests, one per pytest session.

MLflow 3.17.2 is pinned (3.18.0's ``mlflow-tracing`` dependency is not served by the index this
project installs from) and lives in its own venv (``support.server_venv``), so its large
dependency tree never meets aiplane's. The server keeps its registry in SQLite inside a temporary
directory, listens on 127.0.0.1 with a free port, and is stopped by process group at the end of
the session (its uvicorn parent does not always stop on SIGTERM alone). Startup takes about 50 s
on two busy cores, most of it importing MLflow and migrating the SQLite schema.

Registry state is written and read back with MLflow's own Python client, run in the server's
venv (``MlflowServer.client``), never with aiplane's code: the tests check aiplane against
MLflow, not against itself.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import tempfile
import textwrap
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers.support import ServerProcess, free_port, http_ok, server_venv

REQUIREMENTS = ("mlflow==3.17.2",)
START_TIMEOUT = 300.0
_MARK = "@@aiplane "

# Runs in the server venv for the whole session (importing MLflow takes ~20 s on busy cores):
# reads one JSON list of operations per line on stdin, answers one JSON line on stdout.
_CLIENT_SCRIPT = textwrap.dedent(
    """
    import json, sys, os
    from mlflow import MlflowClient
    MARK = "@@aiplane "
    client = MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])

    def run(op):
        kind = op["op"]
        if kind == "create_model":
            client.create_registered_model(op["name"])
            return None
        if kind == "create_run":
            exp = client.get_experiment_by_name(op["experiment"])
            exp_id = exp.experiment_id if exp else client.create_experiment(op["experiment"])
            run = client.create_run(exp_id)
            client.set_terminated(run.info.run_id)
            return run.info.run_id
        if kind == "create_version":
            mv = client.create_model_version(op["name"], op["source"], run_id=op.get("run_id"))
            return mv.version
        if kind == "set_alias":
            client.set_registered_model_alias(op["name"], op["alias"], op["version"])
            return None
        if kind == "get_alias":
            return client.get_model_version_by_alias(op["name"], op["alias"]).version
        if kind == "aliases":
            return dict(client.get_registered_model(op["name"]).aliases)
        raise ValueError("unknown op " + kind)

    for line in sys.stdin:
        try:
            answer = {"ok": [run(op) for op in json.loads(line)]}
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        print(MARK + json.dumps(answer), flush=True)
    """
)


@dataclass
class MlflowServer:
    """A running MLflow server: its URL, its venv's python and a client bridge."""

    url: str
    python: Path
    db: Path
    proc: ServerProcess
    port: int
    _bridge: subprocess.Popen[str] | None = None

    def client(self, *ops: dict[str, Any]) -> list[Any]:
        """Run ``ops`` through MLflow's own ``MlflowClient`` in the server venv."""
        if self._bridge is None or self._bridge.poll() is not None:
            self._bridge = subprocess.Popen(
                [str(self.python), "-c", _CLIENT_SCRIPT],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env={"MLFLOW_TRACKING_URI": self.url, "PATH": "/usr/bin:/bin"},
            )
        assert self._bridge.stdin is not None and self._bridge.stdout is not None
        self._bridge.stdin.write(json.dumps(list(ops)) + "\n")
        self._bridge.stdin.flush()
        line = ""
        while not line.startswith(_MARK):  # MLflow prints its own lines ("View run ...") too
            line = self._bridge.stdout.readline()
            if not line:
                raise RuntimeError("mlflow client bridge exited")
        answer = json.loads(line.removeprefix(_MARK))
        if "error" in answer:
            raise RuntimeError(f"mlflow client: {answer['error']}")
        result: list[Any] = answer["ok"]
        return result

    def close_bridge(self) -> None:
        if self._bridge is not None and self._bridge.poll() is None:
            assert self._bridge.stdin is not None
            self._bridge.stdin.close()
            try:
                self._bridge.wait(10)
            except subprocess.TimeoutExpired:
                self._bridge.kill()
                self._bridge.wait(5)

    def alias_version(self, model: str, alias: str) -> str:
        """The version ``alias`` points at, read through MLflow's client."""
        return str(self.client({"op": "get_alias", "name": model, "alias": alias})[0])

    def fail_version(self, model: str, version: str, message: str) -> None:
        """Mark a version FAILED_REGISTRATION, as a failed asynchronous copy leaves it.

        MLflow's client has no call for this (the server sets it when registration fails), so
        the test writes the status into the server's own SQLite store, as the server would.
        """
        import sqlite3

        with sqlite3.connect(self.db) as conn:
            conn.execute(
                "UPDATE model_versions SET status = 'FAILED_REGISTRATION', status_message = ? "
                "WHERE name = ? AND version = ?",
                (message, model, int(version)),
            )


def start_mlflow(workdir: Path) -> MlflowServer:
    """Install (cached) and start MLflow; raise with the log tail when it cannot start."""
    venv = server_venv("mlflow", REQUIREMENTS)
    port = free_port()
    db = workdir / "mlflow.db"
    proc = ServerProcess(
        "mlflow",
        [
            str(venv / "bin/mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{db}",
            "--default-artifact-root",
            str(workdir / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        log=workdir / "mlflow.log",
        # Only 127.0.0.1 is an allowed Host: a client that says "localhost" is refused (403),
        # as a server behind a proxy refuses a name it was not configured for.
        env={
            "MLFLOW_SERVER_ALLOWED_HOSTS": f"127.0.0.1:{port},127.0.0.1",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
        },
        cwd=workdir,
    ).start()
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_ready(lambda: http_ok(f"{url}/health"), timeout=START_TIMEOUT, what="/health")
    except BaseException:
        proc.stop()
        raise
    return MlflowServer(url, venv / "bin/python", db, proc, port)


_counter = itertools.count()


@dataclass(frozen=True)
class RegisteredModel:
    """A registered model with versions 1-3 (sources s3://models/<name>/<n>), production -> 1."""

    name: str
    run_id: str
    server: MlflowServer


def register_model(server: MlflowServer) -> RegisteredModel:
    """A fresh registered model, made with MLflow's own client."""
    name = f"llama-{next(_counter)}-{uuid.uuid4().hex[:6]}"
    run_id = server.client({"op": "create_run", "experiment": "aiplane-tests"})[0]
    ops: list[dict[str, Any]] = [{"op": "create_model", "name": name}]
    for n in (1, 2, 3):
        source = f"s3://models/{name}/{n}"
        ops.append({"op": "create_version", "name": name, "source": source, "run_id": run_id})
    ops.append({"op": "set_alias", "name": name, "alias": "production", "version": "1"})
    server.client(*ops)
    return RegisteredModel(name, str(run_id), server)


@pytest.fixture
def registered(mlflow_server: MlflowServer) -> Callable[[], RegisteredModel]:
    """Factory: a fresh registered model for this test (versions 1-3, production -> 1)."""
    return lambda: register_model(mlflow_server)


@pytest.fixture(scope="session")
def mlflow_server() -> Iterator[MlflowServer]:
    """One MLflow server for the session; tests use their own model names."""
    with tempfile.TemporaryDirectory(prefix="aiplane-mlflow-") as tmp:
        server = start_mlflow(Path(tmp))
        try:
            yield server
        finally:
            server.close_bridge()
            server.proc.stop(grace=5.0)
