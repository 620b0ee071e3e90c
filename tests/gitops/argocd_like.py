"""Run aiplane the way Argo CD's plugin server (argocd-cmp-server) runs a plugin's generate
command: in a checkout without ``.git``, in the application's source directory, with the
``ARGOCD_*`` environment, no kubeconfig, and no network (a network namespace with only
loopback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "deploy" / "argocd" / "plugin.yaml"


def no_network(argv: list[str]) -> list[str]:
    """``argv`` in a fresh network namespace (root: ``unshare --net``; else ``-rn``)."""
    return ["unshare", "--net" if os.geteuid() == 0 else "-rn", "--", *argv]


def generate_command() -> list[str]:
    """The plugin's generate command from deploy/argocd/plugin.yaml, with ``aiplane`` being
    this checkout's (``python -m aiplane``)."""
    spec = yaml.safe_load(PLUGIN.read_text())["spec"]
    command = [*spec["generate"]["command"], *spec["generate"].get("args", [])]
    assert command[0] == "aiplane"
    return [sys.executable, "-m", "aiplane", *command[1:]]


def plugin_env(home: Path, app: str = "ai-prod", **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ARGOCD_APP_NAME": app,
        "ARGOCD_APP_NAMESPACE": "argocd",
        "ARGOCD_APP_REVISION": "0123456789abcdef0123456789abcdef01234567",
        "ARGOCD_APP_SOURCE_PATH": "stacks",
        "ARGOCD_APP_SOURCE_REPO_URL": "https://git.example/acme/infra.git",
        "ARGOCD_APP_SOURCE_TARGET_REVISION": "main",
        "KUBE_VERSION": "1.34.2",
        "KUBE_API_VERSIONS": "v1,apps/v1,batch/v1",
    }
    env.update(extra)
    return env


def params(**values: Any) -> str:
    """``ARGOCD_APP_PARAMETERS`` as Argo CD sends it."""
    out = []
    for name, value in values.items():
        kind = (
            "array" if isinstance(value, list) else "map" if isinstance(value, dict) else "string"
        )
        out.append({"name": name, kind: value})
    return json.dumps(out)


def run_generate(
    source: Path, env: dict[str, str], extra_args: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(no_network([*generate_command(), *extra_args]), cwd=source, env=env,
                          capture_output=True, timeout=180, check=False)  # fmt: skip


def checkout(tmp: Path, name: str = "checkout") -> Path:
    """A copy of the repository without ``.git`` (what the repo-server hands the plugin); returns
    the application's source directory, ``stacks/``."""
    import shutil

    skip = shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", "*_cache", ".hypothesis", "out", "*.egg-info"
    )
    root = tmp / name
    shutil.copytree(REPO, root, ignore=skip)
    assert not (root / ".git").exists()
    return root / "stacks"


def objects(stdout: bytes) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(stdout.decode()) if d is not None]
    for d in docs:
        assert isinstance(d, dict), d
        assert d.get("apiVersion") and d.get("kind") and d["metadata"].get("name"), d
    return docs
