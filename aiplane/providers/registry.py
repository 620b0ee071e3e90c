"""Provider and data-source names -> factories, imported only when a command needs them.

Adding a provider is one line in ``PROVIDERS`` ("name": "module:factory"); the factory takes a
``ProviderContext`` and returns a ``Provider``. Data sources are keyed by the URI scheme they
resolve. Entries are import paths, not imports, so the CLI starts without loading any backend.
Tests (and plugins) may add entries with ``register_provider`` / ``register_data_source``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import cast

from aiplane.errors import AiplaneError
from aiplane.providers.base import DataSource, Provider, ProviderContext, Resolution

ProviderFactory = Callable[[ProviderContext], Provider]
DataSourceFactory = Callable[[ProviderContext], DataSource]

PROVIDERS: dict[str, str | ProviderFactory] = {
    "kubernetes": "aiplane.providers.kubernetes.provider:make_provider",
    "node-labels": "aiplane.providers.nodelabels:make_provider",
    "mlflow": "aiplane.providers.mlflow.provider:make_provider",
    "pgvector": "aiplane.providers.pgvector.backend:make_provider",
    "chroma": "aiplane.providers.chroma.backend:make_provider",
}
DATA_SOURCES: dict[str, str | DataSourceFactory] = {
    "mlflow": "aiplane.registry.mlflow_source:make_data_source",
}


def register_provider(name: str, factory: str | ProviderFactory) -> None:
    """Add (or replace) a provider under ``name``."""
    PROVIDERS[name] = factory


def register_data_source(scheme: str, factory: str | DataSourceFactory) -> None:
    """Add (or replace) the data source for URIs ``scheme://...``."""
    DATA_SOURCES[scheme] = factory


def make_provider(name: str, context: ProviderContext) -> Provider:
    """A provider instance for one command; an unknown name is a clear error."""
    return cast(Provider, _load(PROVIDERS, name, "provider")(context))


def make_data_source(scheme: str, context: ProviderContext) -> DataSource:
    """The data source for ``scheme://`` references."""
    return cast(DataSource, _load(DATA_SOURCES, scheme, "data source")(context))


def _load(
    table: Mapping[str, str | Callable[[ProviderContext], object]], name: str, what: str
) -> Callable[[ProviderContext], object]:
    entry = table.get(name)
    if entry is None:
        known = ", ".join(sorted(table)) or "none"
        raise AiplaneError(f"{what} {name}: not known to this aiplane (known: {known})")
    if not isinstance(entry, str):
        return entry
    module, _, attr = entry.partition(":")
    return cast(Callable[[ProviderContext], object], getattr(importlib.import_module(module), attr))


def resolve_all(references: Iterable[str], context: ProviderContext) -> dict[str, Resolution]:
    """The resolve step (before render): every ``scheme://...`` reference whose scheme has a
    registered data source, resolved by that source (one call per scheme, all its references at
    once); references of other schemes are not data-source references and are left out."""
    by_scheme: dict[str, list[str]] = {}
    for ref in dict.fromkeys(references):
        scheme, sep, _ = ref.partition("://")
        if sep and scheme in DATA_SOURCES:
            by_scheme.setdefault(scheme, []).append(ref)
    out: dict[str, Resolution] = {}
    for scheme, refs in sorted(by_scheme.items()):
        resolved = make_data_source(scheme, context).resolve(refs)
        missing = [r for r in refs if r not in resolved]
        if missing:
            raise AiplaneError(f"{missing[0]}: the {scheme} data source did not resolve it")
        out.update({r: resolved[r] for r in refs})
    return out
