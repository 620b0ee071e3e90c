"""A local stand-in of the AWS SageMaker API: moto's server mode, one per pytest session.

AWS cannot be reached from the test machines, so SageMaker resolution is tested against
``moto_server`` (moto 5.2.5, pinned, in its own venv via ``support.server_venv``), which serves
the SageMaker model package calls (create group and package, list with approval filters,
describe, update approval) over HTTP on 127.0.0.1. Stopped by process group.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.support import ServerProcess, free_port, http_ok, server_venv

REQUIREMENTS = ("moto[server]==5.2.5",)
REGION = "us-east-1"
# Fake credentials: moto accepts anything, and botocore refuses to sign without some.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


@dataclass
class MotoServer:
    url: str
    proc: ServerProcess


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """moto_server on a free loopback port for the whole session."""
    venv = server_venv("moto", REQUIREMENTS)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="aiplane-moto-") as tmp:
        proc = ServerProcess(
            "moto",
            [str(venv / "bin/moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            log=Path(tmp) / "moto.log",
        ).start()
        url = f"http://127.0.0.1:{port}"
        try:
            proc.wait_ready(lambda: http_ok(f"{url}/moto-api/"), timeout=120, what="/moto-api/")
            yield MotoServer(url, proc)
        finally:
            proc.stop(grace=5.0)
