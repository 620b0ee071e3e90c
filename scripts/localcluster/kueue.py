"""Kueue's controller, built from its Go module, and the manifests the tests need from it.

``build_kueue()`` returns the cache directory holding the ``kueue`` binary (built on first use,
under a file lock, like the control plane's binaries) and ``module_dir()`` the module's source in
the Go module cache, where the suite reads Kueue's CRDs and webhook configurations at the pinned
version instead of copying them into this repository.

The module has no ``replace`` directives, so a wrapper module that requires it and builds
``sigs.k8s.io/kueue/cmd/kueue`` is enough.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from pathlib import Path

from .build import cache_root
from .config import ClusterError, log
from .gobuild import _go, _go_env, _is_exe, _stream

KUEUE_VERSION = os.environ.get("AIPLANE_KUEUE_VERSION", "0.19.2")
KUEUE_MODULE = "sigs.k8s.io/kueue"


def kueue_cache_dir() -> Path:
    """Where the binary lives: keyed by the version."""
    return cache_root() / f"kueue-v{KUEUE_VERSION}"


def kueue_binary() -> Path:
    return kueue_cache_dir() / "kueue"


def _build(out: Path) -> None:
    env = _go_env()
    work = out / ".work"
    mod = work / "mod"
    shutil.rmtree(mod, ignore_errors=True)
    mod.mkdir(parents=True)
    _go(["mod", "init", "aiplane.invalid/kueuebin"], mod, env)
    logfile = out / "build.log"
    log(f"building kueue v{KUEUE_VERSION} into {out} (log: {logfile})")
    _stream(
        ["go", "get", f"{KUEUE_MODULE}/cmd/kueue@v{KUEUE_VERSION}"],
        cwd=mod, env=env, logfile=logfile, what="kueue: go get",
    )  # fmt: skip
    staged = work / "kueue"
    _stream(
        ["go", "build", "-v", "-trimpath", "-ldflags", "-s -w", "-o", str(staged),
         f"{KUEUE_MODULE}/cmd/kueue"],
        cwd=mod, env=env, logfile=logfile, what="kueue: go build",
    )  # fmt: skip
    if not _is_exe(staged):
        raise ClusterError(f"the kueue build did not produce {staged}")
    # Moved into place only when complete, so an interrupted build never looks cached.
    staged.replace(out / "kueue")


def build_kueue(*, force: bool = False) -> Path:
    """The path of the ``kueue`` binary, building it when missing (or when ``force``)."""
    started = time.monotonic()
    out = kueue_cache_dir()
    if _is_exe(out / "kueue") and not force:
        return out / "kueue"
    if shutil.which("go") is None:
        raise ClusterError("building kueue needs `go` (>= 1.26) on PATH")
    out.mkdir(parents=True, exist_ok=True)
    with (out / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be building it right now
        if force or not _is_exe(out / "kueue"):
            _build(out)
            (out / "build-seconds").write_text(f"{time.monotonic() - started:.0f}\n")
    log(f"kueue v{KUEUE_VERSION}: {out / 'kueue'} ({time.monotonic() - started:.0f}s)")
    return out / "kueue"


def module_dir() -> Path:
    """The Kueue module's source tree in the Go module cache (downloaded when missing)."""
    env = _go_env()
    work = kueue_cache_dir()
    work.mkdir(parents=True, exist_ok=True)
    info = json.loads(
        _go(["mod", "download", "-json", f"{KUEUE_MODULE}@v{KUEUE_VERSION}"], work, env)
    )
    return Path(info["Dir"])
