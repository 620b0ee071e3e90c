"""Starting, checking and stopping the control plane's processes; health probes over HTTP."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_starttime(pid: int) -> int | None:
    """Start time of pid in clock ticks (field 22 of /proc/pid/stat), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # zombie: already dead
        return None
    return int(fields[19])


try:
    _LIBC: Any = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - not glibc/Linux
    _LIBC = None


def _set_pdeathsig() -> None:  # runs in the child between fork and exec: no allocations
    if _LIBC is not None:
        _LIBC.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


_children: dict[int, subprocess.Popen[bytes]] = {}


def _spawn(
    name: str,
    argv: list[str],
    run_dir: Path,
    *,
    die_with_parent: bool,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=run_dir,
            env=None if env is None else {**os.environ, **env},
            start_new_session=True,  # Ctrl-C in a terminal does not hit it; `down` stops it
            preexec_fn=_set_pdeathsig if die_with_parent else None,
        )
    _children[proc.pid] = proc
    return {"pid": proc.pid, "starttime": _proc_starttime(proc.pid), "argv": argv}


def _alive(entry: dict[str, Any]) -> bool:
    pid = entry["pid"]
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        return False
    st = _proc_starttime(pid)
    return st is not None and st == entry.get("starttime")


def _stop(entry: dict[str, Any], *, kill: bool = False, timeout: float = 15.0) -> None:
    """Stop one recorded process, only if the pid still is the process we started."""
    if not _alive(entry):
        _reap(entry["pid"])
        return
    pid = entry["pid"]
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(entry):
        time.sleep(0.1)
    if _alive(entry):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while _alive(entry):
            time.sleep(0.05)
    _reap(pid)


def _reap(pid: int) -> None:
    child = _children.pop(pid, None)
    if child is not None:
        with contextlib.suppress(Exception):
            child.wait(timeout=5)


def _client_ctx(pki: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    return ctx


def _insecure_ctx() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _get_ok(url: str, ctx: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:
            return 200 <= resp.status < 300
    except (OSError, urllib.error.URLError, ssl.SSLError):
        return False


def _tail(path: Path, n: int = 25) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in lines[-n:])


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
