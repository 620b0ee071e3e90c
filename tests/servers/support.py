"""Shared plumbing for the test servers: pinned per-server venvs, ports, and owned processes.

A server's Python packages go into their own virtual environment, cached under
``$AIPLANE_SERVERS_CACHE`` (default ``~/.cache/aiplane/servers``) and keyed by a digest of its
pinned requirements, so MLflow's, LiteLLM's and Chroma's dependency trees never have to agree
with each other or with aiplane's. Creation is locked (several pytest sessions may race) and
marked complete only when pip succeeded, so an interrupted install is redone, not trusted.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CACHE = Path(os.environ.get("AIPLANE_SERVERS_CACHE", Path.home() / ".cache/aiplane/servers"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def server_venv(name: str, requirements: Sequence[str], *, python: str = sys.executable) -> Path:
    """The venv for server ``name`` with exactly ``requirements`` (pinned specs) installed."""
    key = hashlib.sha256("\n".join(sorted(requirements)).encode()).hexdigest()[:12]
    home = CACHE / f"{name}-{key}"
    done = home / ".complete"
    if done.exists():
        return home
    with _locked(CACHE / f".{name}-{key}.lock"):
        if done.exists():
            return home
        shutil.rmtree(home, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(home)], check=True)
        pip = [
            str(home / "bin/python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ]
        started = time.monotonic()
        result = subprocess.run([*pip, *requirements], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"server venv {name}: pip install failed:\n{result.stderr[-4000:]}")
        done.write_text(f"{time.monotonic() - started:.1f}s\n")
    return home


def _starttime(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


@dataclass
class ServerProcess:
    """A server started in its own process group; ``stop`` kills exactly that group, by PID."""

    name: str
    argv: Sequence[str]
    log: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    _started: str | None = None

    def start(self) -> ServerProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                list(self.argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        self._started = _starttime(self.proc.pid)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, ready: Callable[[], bool], *, timeout: float, what: str = "") -> None:
        """Poll ``ready`` until true; fail with the log's tail if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited before ready:\n{self.tail()}")
            with contextlib.suppress(Exception):
                if ready():
                    return
            time.sleep(0.25)
        raise RuntimeError(f"{self.name} not ready {what} within {timeout:.0f}s:\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
        """Signal the process group (only if the PID is still the process we started)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        if _starttime(self.proc.pid) != self._started:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(grace)


def http_ok(url: str, *, timeout: float = 2.0) -> bool:
    """True when ``url`` answers 2xx (used as a readiness probe)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError):
        return False
