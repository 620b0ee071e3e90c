"""``kustomize``, built from its Go module and cached, for the Flux output tests.

Flux's kustomize-controller builds every Kustomization path with kustomize (plugins disabled),
so ``kustomize build`` accepting aiplane's ``--for flux`` directories is the offline check that
Flux will. The binary is ``go install``-ed once into
``$AIPLANE_CLUSTER_CACHE/kustomize-v<version>/`` (default ``~/.cache/aiplane``), under a file
lock, and marked complete only after the build succeeded. Run this file to build it and print
the build time: ``python tests/servers/kustomize.py``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

KUSTOMIZE_VERSION = "5.8.2"  # 5.8.3 needs Go 1.27
MODULE = "sigs.k8s.io/kustomize/kustomize/v5"


def cache_root() -> Path:
    env = os.environ.get("AIPLANE_CLUSTER_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "aiplane"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def kustomize_binary(version: str = KUSTOMIZE_VERSION) -> Path:
    """Path of a built ``kustomize`` at ``version``; builds it (minutes, once) when missing."""
    home = cache_root() / f"kustomize-v{version}"
    binary, done = home / "kustomize", home / ".complete"
    if done.exists() and binary.is_file():
        return binary
    with _locked(cache_root() / f".kustomize-v{version}.lock"):
        if done.exists() and binary.is_file():
            return binary
        home.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, GOBIN=str(home), CGO_ENABLED="0")
        started = time.monotonic()
        result = subprocess.run(
            ["go", "install", "-trimpath", "-ldflags", "-s -w", f"{MODULE}@v{version}"],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or not binary.is_file():
            raise RuntimeError(f"kustomize v{version}: go install failed:\n{result.stderr[-4000:]}")
        done.write_text(f"built in {time.monotonic() - started:.1f}s\n")
    return binary


if __name__ == "__main__":
    t0 = time.monotonic()
    path = kustomize_binary()
    print(f"{path} ({time.monotonic() - t0:.1f}s)", file=sys.stderr)
