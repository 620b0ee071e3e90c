"""Resolve a stack's registry references, with the lock: the data source that runs before render.

* ``locked(loaded, lock)``: the lock only, no network (``render``, pull-mode GitOps). A reference
  the lock lacks stays unresolved (render warns).
* ``resolve_stack(loaded, lock, refresh=...)``: what ``plan`` and ``aiplane lock update`` use.
  Without refresh the lock wins; references it lacks are resolved live and added; each locked
  alias is checked against the registry and a moved one is a warning ("moved upstream since the
  lock"). With refresh every reference is resolved live and each changed one becomes a ``Move``,
  shown as a plan line.
* ``check_pins(loaded, pins)``: before applying a saved plan, every alias it pinned must still
  name the pinned version, else "plan is stale".

Every failure is collected and raised together as located diagnostics (``FILE:LINE:COL``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, cast

from aiplane.errors import AiplaneError, Diagnostic, StackError
from aiplane.providers.base import Resolution as DataResolution
from aiplane.providers.resolved import RefKey, Resolutions, ResolvedVersion, ResolveError
from aiplane.registry.sites import Site, reference_sites
from aiplane.stack.loader import LoadedStack
from aiplane.stack.model_refs import resolution_key
from aiplane.stack.models import Registry


class Resolver(Protocol):
    """One registry's reads: resolve a reference, or say which version an alias names now."""

    def resolve_site(self, site: Site) -> ResolvedVersion: ...

    def current(self, site: Site) -> str: ...

    def close(self) -> None: ...


def resolver_for(registry: Registry) -> Resolver | None:
    """The resolver of ``registry``'s type; None where aiplane only checks the form (W&B)."""
    if registry.type == "sagemaker":
        from aiplane.registry.sagemaker_source import SagemakerSource

        return SagemakerSource(registry)
    if registry.type != "mlflow":
        return None
    from aiplane.providers.base import ProviderContext
    from aiplane.providers.registry import make_data_source
    from aiplane.secrets import Scrubber

    context = ProviderContext(stack="", stack_file="", scrubber=Scrubber(),
                              options={"registry": registry})  # fmt: skip
    return cast(Resolver, make_data_source("mlflow", context))


def describe_ref(site: Site) -> str:
    """``mlflow alias production``, ``sagemaker latest approved``, ``mlflow llama/7``."""
    kind, ref = site.registry.type, site.ref
    if kind == "sagemaker" and ref.alias == "approved":
        return "sagemaker latest approved"
    return f"{kind} alias {ref.alias}" if ref.moving else f"{kind} {ref.model}{ref.selector}"


@dataclass(frozen=True)
class Move:
    """A reference that resolves differently than the lock says (or is new to the lock)."""

    site: Site
    before: ResolvedVersion | None
    after: ResolvedVersion

    def line(self) -> str:
        """``model llama-70b production: mlflow alias production 7 -> 8 (registered ..., run ...)``."""
        before, after = self.before, self.after
        what = describe_ref(self.site)
        notes: list[str] = []
        if before is None:
            change = f"-> {after.version}"
            notes.append("new in aiplane.lock")
        elif before.version != after.version:
            change = f"{before.version} -> {after.version}"
        else:
            change = (
                f"version {after.version} artifact {before.artifact_uri} -> {after.artifact_uri}"
            )
        if after.describe():
            notes.append(after.describe())
        tail = f" ({'; '.join(notes)})" if notes else ""
        return f"{self.site.subject}: {what} {change}{tail}"


@dataclass
class Resolution:
    """What render takes (``resolved``), what the plan shows, and the lock's new content."""

    resolved: Resolutions = field(default_factory=dict)
    moves: list[Move] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    lock: Resolutions = field(default_factory=dict)

    def for_render(self) -> dict[str, DataResolution]:
        """What render takes: ``resolution_key`` → artifact URI and version."""
        return {
            resolution_key(key.registry, key.reference): DataResolution(
                key.reference, entry.artifact_uri, entry.version
            )
            for key, entry in self.resolved.items()
        }

    def pins(self) -> list[ResolvedVersion]:
        """The resolved versions, sorted: what a saved plan pins."""
        return sorted(self.resolved.values(), key=lambda r: (r.registry, r.reference))


def locked(loaded: LoadedStack, lock: Resolutions) -> Resolution:
    """The lock's resolutions for this stack's references; no network."""
    out = Resolution(lock=dict(lock))
    for site in reference_sites(loaded):
        entry = lock.get(site.key)
        if entry is not None:
            out.resolved[site.key] = entry
    return out


def resolve_stack(loaded: LoadedStack, lock: Resolutions, *, refresh: bool) -> Resolution:
    """Resolve every reference (see the module docstring); raise ``StackError`` on failures."""
    out = Resolution(lock=dict(lock))
    errors: list[Diagnostic] = []
    resolvers: dict[str, Resolver | None] = {}
    try:
        for site in reference_sites(loaded):
            name = site.registry.name
            if name not in resolvers:
                resolvers[name] = resolver_for(site.registry)
            resolver = resolvers[name]
            if resolver is None:
                continue  # W&B: its form was checked; resolution needs its API (not supported)
            try:
                _one(loaded, site, resolver, lock, refresh, out)
            except ResolveError as exc:
                errors.append(loaded.diagnostic(site.path, exc.message, exc.hint))
    finally:
        for resolver in resolvers.values():
            if resolver is not None:
                resolver.close()
    if errors:
        raise StackError(f"{loaded.path}: {len(errors)} registry reference(s) failed", errors)
    return out


def _one(
    loaded: LoadedStack,
    site: Site,
    resolver: Resolver,
    lock: Resolutions,
    refresh: bool,
    out: Resolution,
) -> None:
    entry = lock.get(site.key)
    if entry is None or refresh:
        fresh = resolver.resolve_site(site)
        if entry is None or not entry.same_target(fresh):
            out.moves.append(Move(site, entry, fresh))
            out.lock[site.key] = fresh
        out.resolved[site.key] = out.lock[site.key]
        return
    out.resolved[site.key] = entry
    if not site.ref.moving:
        return
    try:
        now = resolver.current(site)
    except ResolveError as exc:
        out.warnings.append(
            loaded.diagnostic(site.path, f"cannot check the lock: {exc.message}", warning=True)
        )
        return
    if now != entry.version:
        out.warnings.append(
            loaded.diagnostic(
                site.path,
                f"{site.subject}: {describe_ref(site)} moved upstream "
                f"since the lock ({entry.version} -> {now})",
                "plan --refresh (or `aiplane lock update`) to take it",
                warning=True,
            )
        )


def check_pins(loaded: LoadedStack, pins: Mapping[RefKey, str]) -> None:
    """Refuse a saved plan whose pinned aliases moved since: ``plan is stale: ...``.

    ``pins``: reference → the version the plan resolved it to.
    """
    resolvers: dict[str, Resolver | None] = {}
    try:
        for site in reference_sites(loaded):
            pinned = pins.get(site.key)
            if pinned is None or not site.ref.moving:
                continue
            name = site.registry.name
            if name not in resolvers:
                resolvers[name] = resolver_for(site.registry)
            resolver = resolvers[name]
            if resolver is None:
                continue
            try:
                now = resolver.current(site)
            except ResolveError as exc:
                raise AiplaneError(f"plan cannot be checked: {exc.message}") from None
            if now != pinned:
                raise AiplaneError(
                    f"plan is stale: {site.registry.type} model {site.ref.model} alias "
                    f"{site.ref.alias} moved {pinned} -> {now}; plan again"
                )
    finally:
        for resolver in resolvers.values():
            if resolver is not None:
                resolver.close()


def pins_by_key(pins: Iterable[ResolvedVersion]) -> dict[RefKey, ResolvedVersion]:
    return {p.key: p for p in pins}
