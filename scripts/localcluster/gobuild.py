"""Building etcd, kwok and the Kubernetes binaries from Go modules (`go get` / `go build`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from .config import (
    ETCD_VERSION,
    K8S_BINARIES,
    K8S_VERSION,
    KWOK_STAGE_FILES,
    KWOK_VERSION,
    STAGES_FILE,
    ClusterError,
    log,
)


def _is_exe(p: Path) -> bool:
    return p.is_file() and os.access(p, os.X_OK)


def _stream(
    cmd: Sequence[str], *, cwd: Path, env: dict[str, str], logfile: Path, what: str
) -> None:
    """Run a (long) command; tee its output to logfile, print a heartbeat every 30 s."""
    started = time.monotonic()
    lines = 0
    with logfile.open("a") as out:
        out.write(f"\n$ (cd {cwd} && {' '.join(cmd)})\n")
        out.flush()
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.wait(30):
                log(f"  ... {what}: {time.monotonic() - started:.0f}s, {lines} lines of go output")

        threading.Thread(target=heartbeat, daemon=True).start()
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                lines += 1
                out.write(line)
                if line.startswith("go: downloading") and lines % 25 == 1:
                    log(f"  {line.strip()}")
            rc = proc.wait()
        finally:
            stop.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if rc != 0:
        tail = "".join(logfile.read_text(errors="replace").splitlines(keepends=True)[-40:])
        raise ClusterError(f"{what} failed (exit {rc}); full log: {logfile}\n{tail}")
    log(f"  {what}: done in {time.monotonic() - started:.0f}s")


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CGO_ENABLED"] = "0"
    env["GOFLAGS"] = (env.get("GOFLAGS", "") + " -mod=mod").strip()
    return env


def _go(args: Sequence[str], cwd: Path, env: dict[str, str]) -> str:
    res = subprocess.run(
        ["go", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        raise ClusterError(f"go {' '.join(args)} failed:\n{res.stderr}")
    return res.stdout


def _fresh_module(path: Path, name: str, env: dict[str, str]) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    _go(["mod", "init", name], path, env)


def _build_etcd(out: Path, work: Path, env: dict[str, str], logfile: Path) -> None:
    mod = work / "etcd"
    _fresh_module(mod, "aiplane.invalid/etcdbin", env)
    # The server module's own `replace ../` lines are ignored when it is a dependency.
    _stream(
        ["go", "get", f"go.etcd.io/etcd/server/v3@v{ETCD_VERSION}"],
        cwd=mod, env=env, logfile=logfile, what="etcd: go get",
    )  # fmt: skip
    _stream(
        ["go", "build", "-v", "-trimpath", "-ldflags", "-s -w", "-o", str(out / "etcd"),
         "go.etcd.io/etcd/server/v3"],
        cwd=mod, env=env, logfile=logfile, what="etcd: go build",
    )  # fmt: skip


def _build_kwok(out: Path, work: Path, env: dict[str, str], logfile: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    env = dict(env, GOBIN=str(out))
    _stream(
        ["go", "install", "-v", "-trimpath", "-ldflags", "-s -w",
         f"sigs.k8s.io/kwok/cmd/kwok@v{KWOK_VERSION}"],
        cwd=work, env=env, logfile=logfile, what="kwok: go install",
    )  # fmt: skip


def _write_kwok_stages(out: Path, work: Path, env: dict[str, str]) -> None:
    work.mkdir(parents=True, exist_ok=True)
    info = json.loads(
        _go(["mod", "download", "-json", f"sigs.k8s.io/kwok@v{KWOK_VERSION}"], work, env)
    )
    src = Path(info["Dir"])
    docs = []
    for rel in KWOK_STAGE_FILES:
        docs.append(f"# from sigs.k8s.io/kwok@v{KWOK_VERSION}/{rel}\n" + (src / rel).read_text())
    tmp = out / (STAGES_FILE + ".tmp")
    tmp.write_text("\n---\n".join(d.rstrip("\n") + "\n" for d in docs))
    tmp.replace(out / STAGES_FILE)


def _k8s_ldflags() -> str:
    major, minor, _patch = K8S_VERSION.split(".")
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        for key, val in (
            ("gitVersion", f"v{K8S_VERSION}"),
            ("gitMajor", major),
            ("gitMinor", minor),
            ("gitTreeState", "clean"),
            ("buildDate", date),
        ):
            flags.append(f"-X {pkg}.{key}={val}")
    return " ".join(flags)


def _build_k8s(
    out: Path, work: Path, env: dict[str, str], logfile: Path, which: Sequence[str]
) -> None:
    """k8s.io/kubernetes is not meant to be a dependency: its go.mod requires every staging
    module at v0.0.0 and replaces it with ./staging/... . A wrapper module requires it and
    replaces each staging module by its published v0.N.P tag instead."""
    _major, minor, patch = K8S_VERSION.split(".")
    staging_version = f"v0.{minor}.{patch}"
    mod = work / "k8s"
    _fresh_module(mod, "aiplane.invalid/k8sbins", env)
    info = json.loads(
        _go(["mod", "download", "-json", f"k8s.io/kubernetes@v{K8S_VERSION}"], mod, env)
    )
    gomod = Path(info["GoMod"]).read_text()
    edits: list[str] = []
    staging: list[str] = []
    for raw in gomod.splitlines():
        line = raw.strip()
        if line.startswith("go ") and len(line.split()) == 2:
            edits.append(f"-go={line.split()[1]}")
        elif line.startswith("godebug ") and "(" not in line:
            edits.append(f"-godebug={line.split(None, 1)[1]}")
        elif "=>" in line:
            left, right = (s.strip() for s in line.removeprefix("replace").split("=>", 1))
            if right.startswith("./staging/"):
                staging.append(left.split()[0])
    if not staging:
        raise ClusterError(f"found no staging replaces in {info['GoMod']}")
    edits += [f"-replace={m}={m}@{staging_version}" for m in staging]
    _go(["mod", "edit", *edits], mod, env)
    log(f"  k8s wrapper module: {len(staging)} staging modules pinned to {staging_version}")
    pkgs = [f"k8s.io/kubernetes/cmd/{b}" for b in which]
    _stream(
        ["go", "get", *(f"{p}@v{K8S_VERSION}" for p in pkgs)],
        cwd=mod, env=env, logfile=logfile, what="kubernetes: go get",
    )  # fmt: skip
    _stream(
        ["go", "build", "-v", "-trimpath", "-tags", "selinux,notest",
         "-ldflags", _k8s_ldflags(), "-o", str(out) + "/", *pkgs],
        cwd=mod, env=env, logfile=logfile, what=f"kubernetes: go build {' '.join(which)}",
    )  # fmt: skip


def _publish(stage: Path, out: Path, names: Sequence[str]) -> None:
    for name in names:
        if not _is_exe(stage / name):
            raise ClusterError(f"the build did not produce {stage / name}")
        (stage / name).replace(out / name)


def _build_missing(out: Path, missing: Sequence[str], need_stages: bool) -> None:
    work = out / ".work"
    logfile = out / "build.log"
    env = _go_env()
    gov = _go(["version"], out, env).strip()
    log(f"building into {out} with {gov} (log: {logfile})")
    log(f"  versions: kubernetes v{K8S_VERSION}, etcd v{ETCD_VERSION}, kwok v{KWOK_VERSION}")
    # Build into a staging dir and move finished binaries into place, so that an
    # interrupted build never leaves a truncated binary that looks cached.
    stage = work / "out"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    if "etcd" in missing:
        log("step: etcd")
        _build_etcd(stage, work, env, logfile)
        _publish(stage, out, ["etcd"])
    if "kwok" in missing:
        log("step: kwok")
        _build_kwok(stage, work, env, logfile)
        _publish(stage, out, ["kwok"])
    if need_stages:
        log("step: kwok default stages from the module cache")
        _write_kwok_stages(out, work, env)
    k8s = [b for b in K8S_BINARIES if b in missing]
    if k8s:
        log(f"step: kubernetes ({', '.join(k8s)}); a cold build takes a long while")
        _build_k8s(stage, work, env, logfile, k8s)
        _publish(stage, out, k8s)
