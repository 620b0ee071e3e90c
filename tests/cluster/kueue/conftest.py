"""Fixtures for the queueing tests: the real Kueue controller on the suite's control plane.

``kueue`` (session) builds Kueue from its Go module (cached in ~/.cache/aiplane/kueue-v<ver>/),
starts it with webhooks on loopback and yields ``tests.servers.kueue.Kueue``. A failed build or
start fails the tests that need it; it never skips them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = str(Path(__file__).resolve().parents[3])
if REPO not in sys.path:  # tests.servers is imported by path from the repository root
    sys.path.insert(0, REPO)

from tests.servers.kueue import Kueue, run_kueue  # noqa: E402


@pytest.fixture(scope="session")
def kueue(
    control_plane: Any, local_cluster: Any, request: pytest.FixtureRequest
) -> Iterator[Kueue]:
    capman = request.config.pluginmanager.getplugin("capturemanager")
    try:
        context = run_kueue(control_plane, local_cluster)
        if capman is not None:
            with capman.global_and_fixture_disabled():
                running = context.__enter__()
        else:
            running = context.__enter__()
    except Exception as exc:  # never a skip: a missing queue controller is a failure
        pytest.fail(f"starting Kueue failed: {exc}", pytrace=False)
    try:
        yield running
    finally:
        context.__exit__(None, None, None)
