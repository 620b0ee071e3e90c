"""`build()`: find or build the binaries in the versioned cache dir, under a file lock."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

from .config import (
    ALL_BINARIES,
    ETCD_VERSION,
    K8S_VERSION,
    KWOK_VERSION,
    STAGES_FILE,
    ClusterError,
    log,
)
from .gobuild import _build_missing, _is_exe


def cache_root() -> Path:
    env = os.environ.get("AIPLANE_CLUSTER_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "aiplane"


def cache_dir() -> Path:
    """Where `build` puts binaries: keyed by the three versions."""
    return cache_root() / f"k8s-v{K8S_VERSION}_etcd-v{ETCD_VERSION}_kwok-v{KWOK_VERSION}"


def _override_dirs() -> list[Path]:
    dirs = []
    for var in ("AIPLANE_CLUSTER_BIN", "KUBEBUILDER_ASSETS"):
        val = os.environ.get(var)
        if val and Path(val).expanduser().is_dir():
            dirs.append(Path(val).expanduser().resolve())
    return dirs


def _try_lock(f: Any) -> bool:
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def build(*, force: bool = False) -> Path:
    """Return a directory holding all binaries and kwok-stages.yaml, building what is missing.

    Binaries found in $AIPLANE_CLUSTER_BIN or $KUBEBUILDER_ASSETS win; whatever those lack is
    built into cache_dir(). When overrides are used, the returned dir is a small directory of
    symlinks under the cache root.
    """
    t0 = time.monotonic()
    out = cache_dir()
    overrides = [] if force else _override_dirs()
    chosen: dict[str, Path] = {}
    for name in (*ALL_BINARIES, STAGES_FILE):
        for d in overrides:
            cand = d / name
            if (name == STAGES_FILE and cand.is_file()) or _is_exe(cand):
                chosen[name] = cand
                break

    def todo() -> tuple[list[str], bool]:
        missing = [n for n in ALL_BINARIES if n not in chosen and (force or not _is_exe(out / n))]
        stages = STAGES_FILE not in chosen and (force or not (out / STAGES_FILE).is_file())
        return missing, stages

    if overrides:
        log(f"prebuilt binaries from {', '.join(map(str, overrides))}: {sorted(chosen) or 'none'}")
    missing, need_stages = todo()
    if missing or need_stages:
        if shutil.which("go") is None:
            raise ClusterError(
                f"need to build {missing or [STAGES_FILE]} but `go` is not on PATH; install Go "
                ">= 1.26 or point AIPLANE_CLUSTER_BIN at a directory with the binaries"
            )
        out.mkdir(parents=True, exist_ok=True)
        with (out / ".build.lock").open("w") as lock:
            if not _try_lock(lock):
                log(f"another build holds {out / '.build.lock'}; waiting for it")
                fcntl.flock(lock, fcntl.LOCK_EX)
                force = False  # whatever that build produced is fresh
                missing, need_stages = todo()
            if missing or need_stages:
                _build_missing(out, missing, need_stages)
        log(f"build finished in {time.monotonic() - t0:.0f}s")
    if not chosen:
        return out
    # Mix of prebuilt and cached: a directory of symlinks keyed by the override locations.
    key = hashlib.sha256("|".join(map(str, overrides)).encode()).hexdigest()[:12]
    mixed = cache_root() / f"bin-{key}"
    mixed.mkdir(parents=True, exist_ok=True)
    for name in (*ALL_BINARIES, STAGES_FILE):
        target = chosen.get(name, out / name)
        link = mixed / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    return mixed
