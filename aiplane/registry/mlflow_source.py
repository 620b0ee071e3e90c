"""The MLflow registry as a data source: resolves the stack's references before render.

``MlflowSource`` satisfies the core's ``DataSource`` protocol (``scheme``, ``resolve``) for
plain references, and gives ``aiplane.registry`` the richer per-site reads it needs for the lock
(``resolve_site``: version, artifact, run, times; ``current``: where an alias points now).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiplane.errors import AiplaneError
from aiplane.providers.base import ProviderContext, Resolution
from aiplane.providers.mlflow.client import MlflowClient
from aiplane.providers.mlflow.resolve import MlflowRef, client_for, current_version, resolve
from aiplane.providers.resolved import ResolvedVersion, ResolveError
from aiplane.registry.sites import Site
from aiplane.stack.model_refs import RefError, RegistryRef, parse_ref
from aiplane.stack.models import Registry


def make_data_source(context: ProviderContext) -> MlflowSource:
    """Data-source registry factory: ``context.options["registry"]`` is the stack's registry."""
    registry = context.options.get("registry")
    if not isinstance(registry, Registry):
        raise AiplaneError("data source mlflow: needs the stack's registry (options['registry'])")
    return MlflowSource(registry)


class MlflowSource:
    """Reads one MLflow registry (one HTTP client, reused for every reference)."""

    scheme = "mlflow"

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._client: MlflowClient | None = None

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            registry = self.registry
            assert registry.uri is not None  # the schema requires it for mlflow registries
            creds, tls = registry.credentials, registry.tls
            self._client = client_for(
                registry.uri,
                token_env=creds.env if creds else None,
                ca_file=tls.ca_file if tls else None,
                insecure=bool(tls and tls.insecure_skip_verify),
            )
        return self._client

    def resolve(self, references: Sequence[str]) -> Mapping[str, Resolution]:
        """The core protocol: reference → artifact URI and version."""
        out: dict[str, Resolution] = {}
        for reference in references:
            try:
                ref = parse_ref(reference)
                if ref is None or ref.type != "mlflow":
                    raise AiplaneError(f"{reference}: not an MLflow reference")
                found = resolve(self.client, self.registry.name, _mlflow_ref(ref), reference)
            except (ResolveError, RefError) as exc:
                raise AiplaneError(f"{reference}: {exc}") from None
            out[reference] = Resolution(reference, found.artifact_uri, found.version)
        return out

    def resolve_site(self, site: Site) -> ResolvedVersion:
        return resolve(self.client, self.registry.name, _mlflow_ref(site.ref), site.version.source)

    def current(self, site: Site) -> str:
        return current_version(self.client, _mlflow_ref(site.ref))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _mlflow_ref(ref: RegistryRef) -> MlflowRef:
    return MlflowRef(ref.model, ref.alias, ref.version)
