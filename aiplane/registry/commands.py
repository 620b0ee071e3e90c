"""``aiplane lock update STACK`` and the lock step shared by ``render`` and ``plan``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from aiplane.registry.lockfile import lock_path, read_lock, write_lock
from aiplane.registry.resolve import Resolution, check_pins, locked, resolve_stack
from aiplane.registry.resolved import RefKey
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


def lock_update_main(files: list[str]) -> int:
    """Re-resolve every reference of each stack, print each move, write ``aiplane.lock``."""
    from aiplane.stack.loader import load_and_check

    for file in files:
        loaded = load_and_check(file)
        path = lock_path(file)
        resolution = resolve_stack(loaded, read_lock(path), refresh=True)
        for warning in resolution.warnings:
            print(warning.format(), file=sys.stderr)
        for move in resolution.moves:
            print(f"  ~ {move.line()}")
        changed = write_lock(path, resolution.lock)
        count = len(resolution.resolved)
        state = "updated" if changed else "up to date"
        print(f"{path}: {state} ({count} reference(s), {len(resolution.moves)} moved)")
    return 0


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
