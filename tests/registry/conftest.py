"""Registry tests run against a real MLflow server (``tests/servers/mlflow.py``), one per session.

If MLflow cannot be installed or started, these tests ERROR with the server's log; never skip.
"""

from __future__ import annotations

from tests.servers.mlflow import mlflow_server, registered

__all__ = ["mlflow_server", "registered"]
