"""``aiplane lock update STACK...``: resolve every registry reference again, write aiplane.lock."""

from __future__ import annotations

import sys

from aiplane.registry.lockfile import lock_path, read_lock, write_lock
from aiplane.registry.resolve import resolve_stack


def lock_update_main(files: list[str]) -> int:
    """Re-resolve every reference of each stack, print each move, write ``aiplane.lock``."""
    from aiplane.check import load_and_check

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
