"""Registry tests run against a real MLflow server (``tests/servers/mlflow.py``), one per session.

If MLflow cannot be installed or started, these tests ERROR with the server's log; never skip.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.servers.mlflow import MlflowServer, mlflow_server

__all__ = ["mlflow_server"]

_counter = itertools.count()


@dataclass(frozen=True)
class RegisteredModel:
    """A registered model with versions 1-3 (sources s3://models/<name>/<n>), production -> 1."""

    name: str
    run_id: str
    server: MlflowServer


@pytest.fixture
def registered(mlflow_server: MlflowServer) -> Callable[[], RegisteredModel]:
    """Factory: a fresh registered model for this test, made with MLflow's own client."""

    def make() -> RegisteredModel:
        name = f"llama-{next(_counter)}-{uuid.uuid4().hex[:6]}"
        run_id = mlflow_server.client(
            {"op": "create_run", "experiment": "aiplane-tests"},
        )[0]
        ops = [{"op": "create_model", "name": name}]
        for n in (1, 2, 3):
            source = f"s3://models/{name}/{n}"
            ops.append({"op": "create_version", "name": name, "source": source, "run_id": run_id})
        ops.append({"op": "set_alias", "name": name, "alias": "production", "version": "1"})
        mlflow_server.client(*ops)
        return RegisteredModel(name, str(run_id), mlflow_server)

    return make
