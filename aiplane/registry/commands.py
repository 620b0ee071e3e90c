"""``aiplane lock update STACK`` and the lock step shared by ``render`` and ``plan``."""

from __future__ import annotations

import sys

from aiplane.registry.lockfile import lock_path, read_lock, write_lock
from aiplane.registry.resolve import Resolution, locked, resolve_stack
from aiplane.stack.loader import LoadedStack


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
