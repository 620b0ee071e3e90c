"""A real LiteLLM proxy (pinned ``litellm[proxy]``) started on loopback from a rendered config.

``start_proxy(config_text, env)`` writes the config aiplane rendered (the ``config.yaml`` of the
proxy's ConfigMap), gives the process the environment its Deployment would get (the plain
variables as rendered; each Secret-backed variable a dummy value) and runs ``litellm --config``
on 127.0.0.1 in its own process group. No database (no ``DATABASE_URL``) and no network: the
price map is the local copy (``LITELLM_LOCAL_MODEL_COST_MAP=True``, rendered by aiplane), and
telemetry is off. The proxy takes ~20 s to start (longer on a busy machine); a cold install of
its venv takes a few minutes and is cached under ``~/.cache/aiplane/servers``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.servers.support import ServerProcess, free_port, http_ok, server_venv

LITELLM_VERSION = "1.108.5"
REQUIREMENTS = [f"litellm[proxy]=={LITELLM_VERSION}"]
START_TIMEOUT = 240.0


def litellm_venv() -> Path:
    return server_venv("litellm", REQUIREMENTS)


@dataclass
class Proxy:
    process: ServerProcess
    port: int
    master_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.master_key}", "content-type": "application/json"}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.stop()


def deployment_env(manifests: list[dict[str, Any]], name: str = "litellm") -> dict[str, str]:
    """The environment the rendered Deployment gives the proxy; Secret values become dummies."""
    deployment = next(m for m in manifests if m["kind"] == "Deployment"
                      and m["metadata"]["name"] == name)  # fmt: skip
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for item in container.get("env", []):
        env[item["name"]] = item["value"] if "value" in item else f"sk-{secrets.token_hex(24)}"
    return env


def proxy_config_text(manifests: list[dict[str, Any]], name: str = "litellm") -> str:
    config_map = next(m for m in manifests if m["kind"] == "ConfigMap"
                      and m["metadata"]["name"] == name)  # fmt: skip
    return str(config_map["data"]["config.yaml"])


def start_proxy(config_text: str, env: dict[str, str], workdir: Path, master_key_var: str) -> Proxy:
    """Start the proxy on a free loopback port and wait until it answers its liveness check."""
    venv = litellm_venv()
    yaml.safe_load(config_text)  # fail here, not in the proxy's log, if it is not YAML
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yaml"
    config.write_text(config_text)
    port = free_port()
    process = ServerProcess(
        name="litellm",
        argv=[
            str(venv / "bin/litellm"),
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ],
        log=workdir / "litellm.log",
        env={
            **env,
            "LITELLM_TELEMETRY": "False",
            "LITELLM_LOG": "ERROR",
            "NO_PROXY": "127.0.0.1,localhost",
            "HOME": str(workdir),
        },
        cwd=workdir,
    ).start()
    try:
        process.wait_ready(
            lambda: http_ok(f"http://127.0.0.1:{port}/health/liveliness"),
            timeout=START_TIMEOUT,
            what="(GET /health/liveliness)",
        )
    except BaseException:
        process.stop()
        raise
    return Proxy(process, port, env[master_key_var])
