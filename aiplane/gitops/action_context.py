"""What one run of the action works with: its settings, git, and the aiplane CLI it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiplane.errors import AiplaneError
from aiplane.gitops.github import GitHub


@dataclass
class Context:
    """Everything one run of the action needs, read once from the environment."""

    gh: GitHub
    event: Mapping[str, Any]
    workdir: Path
    patterns: list[str]
    against: str = ""
    kubeconfig: str = ""  # path of a 0600 file with the secret's text, "" for none
    plans_dir: Path = field(default_factory=lambda: Path("aiplane-plans"))
    run_url: str = ""
    sha: str = ""


def context_from_env(env: Mapping[str, str]) -> Context:
    """Read the inputs and GitHub's variables."""
    repo = env.get("GITHUB_REPOSITORY", "")
    token = env.get("GITHUB_TOKEN", "")
    if not repo or not token:
        raise AiplaneError("action: GITHUB_REPOSITORY and GITHUB_TOKEN must be set")
    event_path = env.get("GITHUB_EVENT_PATH", "")
    event = json.loads(Path(event_path).read_text()) if event_path else {}
    server, run_id = env.get("GITHUB_SERVER_URL", ""), env.get("GITHUB_RUN_ID", "")
    workdir = Path(env.get("AIPLANE_WORKDIR") or ".").resolve()
    return Context(
        gh=GitHub(env.get("GITHUB_API_URL", "https://api.github.com"), repo, token),
        event=event,
        workdir=workdir,
        patterns=split_patterns(env.get("AIPLANE_STACKS", "")),
        against=env.get("AIPLANE_AGAINST", ""),
        kubeconfig=_kubeconfig_file(env.get("AIPLANE_KUBECONFIG", "")),
        plans_dir=Path(env.get("AIPLANE_PLANS_DIR") or workdir / "aiplane-plans").resolve(),
        run_url=f"{server}/{repo}/actions/runs/{run_id}" if server and run_id else "",
        sha=env.get("GITHUB_SHA", ""),
    )


def split_patterns(text: str) -> list[str]:
    """Globs separated by newlines, commas or spaces."""
    return [p for p in text.replace(",", " ").split() if p]


def _kubeconfig_file(text: str) -> str:
    if not text.strip():
        return ""
    fd, path = tempfile.mkstemp(prefix="aiplane-kubeconfig-")
    with os.fdopen(fd, "w") as fh:  # mkstemp creates it 0600
        fh.write(text)
    return path


def git(args: Sequence[str], cwd: Path) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AiplaneError(f"git {' '.join(args)}: {proc.stderr.strip() or 'failed'}")
    return proc.stdout


def aiplane(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the aiplane CLI of this very installation."""
    # Wide and plain: error lines go into PR comments, unwrapped and without colour codes. A PR
    # plan's stack lock only guards the plan itself: a short TTL keeps it from blocking applies.
    env = {
        **os.environ,
        "COLUMNS": "250",
        "NO_COLOR": "1",
        "TERM": "dumb",
        "AIPLANE_PLAN_LOCK_TTL": os.environ.get("AIPLANE_PLAN_LOCK_TTL", "60"),
    }
    return subprocess.run(
        [sys.executable, "-m", "aiplane", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
