"""The resolve step as commands use it: the lock for ``render``, the registries for ``plan``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from aiplane.providers.resolved import RefKey
from aiplane.registry.lockfile import lock_path, read_lock, write_lock
from aiplane.registry.resolve import Resolution, check_pins, locked, resolve_stack
from aiplane.stack.loader import LoadedStack

if TYPE_CHECKING:
    from aiplane.plan.model import Change


def resolve_for_render(loaded: LoadedStack) -> Resolution:
    """The lock's resolutions for ``loaded`` (no network)."""
    return locked(loaded, read_lock(lock_path(loaded.path)))


def resolve_for_plan(loaded: LoadedStack, *, refresh: bool) -> Resolution:
    """Resolve against the registries (see ``resolve_stack``) and write what changed to the lock."""
    path = lock_path(loaded.path)
    resolution = resolve_stack(loaded, read_lock(path), refresh=refresh)
    if resolution.moves:
        write_lock(path, resolution.lock)
    return resolution


RegistryMode = Literal["lock", "plan", "refresh"]


def resolve_mode(loaded: LoadedStack, mode: RegistryMode) -> Resolution:
    """``lock``: the lock only (render, apply of a saved plan); ``plan``: the lock, checked
    against the registries, new references added; ``refresh``: everything resolved again."""
    if mode == "lock":
        return resolve_for_render(loaded)
    return resolve_for_plan(loaded, refresh=mode == "refresh")


def warning_lines(resolution: Resolution) -> list[str]:
    """The resolution's warnings as plan warnings (``message (hint)  FILE#Lline``)."""
    out = []
    for d in resolution.warnings:
        hint = f" ({d.hint})" if d.hint else ""
        out.append(f"{d.message}{hint}  {d.file}#L{d.line}")
    return out


def check_saved_references(loaded: LoadedStack, changes: Sequence[Change]) -> None:
    """Refuse a saved plan whose pinned aliases moved since it was made."""
    pins: dict[RefKey, str] = {}
    for change in changes:
        address = change.address
        if address.type == "reference" and change.pin is not None and change.pin.version:
            pins[RefKey(address.scope, address.name)] = change.pin.version
    check_pins(loaded, pins)
