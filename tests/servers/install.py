"""Install every test server's pinned venv up front, concurrently (``make servers``).

The fixtures install on first use anyway; doing it here lets CI overlap the downloads with the
Go builds and shows each server's install time on its own line. A server module takes part by
defining ``REQUIREMENTS`` (pinned specs) at module level; its venv name is the module's name.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.servers.support import server_venv


def _servers() -> dict[str, list[str]]:
    import tests.servers as package

    found: dict[str, list[str]] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"tests.servers.{info.name}")
        requirements = getattr(module, "REQUIREMENTS", None)
        if requirements:
            found[info.name] = list(requirements)
    return found


def _install(name: str, requirements: list[str]) -> str:
    started = time.monotonic()
    server_venv(name, requirements)
    return f"servers: {name} ({', '.join(requirements)}) ready in {time.monotonic() - started:.0f}s"


def main() -> int:
    servers = _servers()
    with ThreadPoolExecutor(max_workers=len(servers) or 1) as pool:
        for line in pool.map(lambda item: _install(*item), servers.items()):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
