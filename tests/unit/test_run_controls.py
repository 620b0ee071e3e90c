"""Durations, the stop flag and request timeouts against a listener that never answers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from aiplane.commands.duration import parse_duration
from aiplane.commands.interrupt import Interrupted, StopSignal
from aiplane.errors import AiplaneError

REPO = Path(__file__).resolve().parents[2]


def test_durations() -> None:
    assert parse_duration("90s", "--timeout") == 90
    assert parse_duration("10m", "--timeout") == 600
    assert parse_duration("1h30m", "--timeout") == 5400
    assert parse_duration("500ms", "--timeout") == 0.5
    assert parse_duration("0", "--timeout") == 0
    assert parse_duration("2.5", "--timeout") == 2.5
    for bad in ("", "10x", "m", "5 m", "-1s"):
        with pytest.raises(AiplaneError, match=r"--timeout .*not a duration"):
            parse_duration(bad, "--timeout")


def test_first_signal_sets_the_flag_second_interrupts() -> None:
    # A session fixture (the local cluster's teardown) may own SIGTERM already; StopSignal
    # must hand back whatever was there, not assume the default.
    before = signal.getsignal(signal.SIGTERM)
    with StopSignal() as stop:
        stop.check()  # nothing asked yet
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested
        with pytest.raises(Interrupted) as info:
            stop.check(report="r")
        assert info.value.exit_code == 143 and info.value.report == "r"
        assert "stopped by SIGTERM" in str(info.value)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is before  # restored


def _silent_listener() -> tuple[socket.socket, list[socket.socket]]:
    """Accepts TCP connections and never says a word (a hung API server or proxy)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []

    def loop() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=loop, daemon=True).start()
    return server, held


def test_a_listener_that_never_answers_fails_within_the_timeout(tmp_path: Path) -> None:
    server, held = _silent_listener()
    port = server.getsockname()[1]
    config = {"current-context": "hung",
              "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}",
                                                     "insecure-skip-tls-verify": True}}],
              "users": [{"name": "u", "user": {"token": "t"}}],
              "contexts": [{"name": "hung", "context": {"cluster": "c", "user": "u"}}]}  # fmt: skip
    (tmp_path / "config").write_text(yaml.safe_dump(config))
    bundle = {"apiVersion": "v1", "kind": "List", "metadata": {"name": "s"}, "items": []}
    (tmp_path / "s.json").write_text(json.dumps(bundle))
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "config"), "NO_COLOR": "1"}
    try:
        start = time.monotonic()
        res = subprocess.run(
            [sys.executable, "-m", "aiplane", "plan", str(tmp_path / "s.json"),
             "--request-timeout", "3s"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        elapsed = time.monotonic() - start
    finally:
        server.close()
        for conn in held:
            conn.close()
    assert res.returncode == 1, res.stderr
    assert held, "the client never connected"
    lines = [ln for ln in res.stderr.splitlines() if not ln.startswith("retrying:")]
    assert len(lines) == 1, res.stderr
    assert f"127.0.0.1:{port}: cannot reach the API server: timed out" in lines[0]
    assert elapsed < 3 + 8, elapsed  # the timeout plus interpreter start on a busy machine


def test_progress_off_a_terminal_is_plain_rate_limited_lines() -> None:
    import io

    from rich.console import Console

    from aiplane.output.progress import Progress

    buf = io.StringIO()
    with Progress(Console(file=buf, width=40, soft_wrap=True), every=60) as say:
        say("stage workloads: applying 2 object(s)")
        for _ in range(5):
            say("Deployment/ai/llama-70b-canary: waiting: 0/1 replicas ready, rollout in progress")
        say("Deployment/ai/other: waiting: 0/1")
    lines = buf.getvalue().splitlines()
    assert lines[0] == "stage workloads: applying 2 object(s)"
    assert lines[1].startswith("Deployment/ai/llama-70b-canary: waiting: 0/1 replicas ready, ")
    assert lines[1].endswith("(since 0 s)")  # whole, though longer than the console width
    assert lines[2] == "Deployment/ai/other: waiting: 0/1 (since 0 s)"
    assert len(lines) == 3
