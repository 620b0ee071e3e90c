"""The MLflow registry as a data source: resolves the stack's references before render."""

from __future__ import annotations

from aiplane.providers.mlflow.client import MlflowClient
from aiplane.providers.mlflow.resolve import client_for, current_version, resolve
from aiplane.registry.resolved import ResolvedVersion
from aiplane.registry.sites import Site
from aiplane.stack.models import Registry


class MlflowSource:
    """Reads one MLflow registry (one HTTP client, reused for every reference)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._client: MlflowClient | None = None

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            self._client = client_for(self.registry)
        return self._client

    def resolve(self, site: Site) -> ResolvedVersion:
        return resolve(self.client, self.registry, site.ref, site.version.source)

    def current(self, site: Site) -> str:
        return current_version(self.client, site.ref)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
