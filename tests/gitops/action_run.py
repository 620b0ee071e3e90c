"""Run the action's Python entry point as action.yml does, against a fake GitHub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.gitops.conftest import GitRepo
from tests.gitops.fake_github import FakeGitHub


def run_action(
    repo: GitRepo, fake: FakeGitHub, pr: dict[str, Any], tmp: Path, mode: str = "plan",
    **env: str,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    event = tmp / f"event-{len(fake.state.requests)}.json"
    event.write_text(json.dumps({"pull_request": pr} if pr else {}))
    full = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "AIPLANE_"))},
        "GITHUB_API_URL": fake.url,
        "GITHUB_REPOSITORY": "acme/infra",
        "GITHUB_TOKEN": fake.state.token,
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_RUN_ID": "42",
        "AIPLANE_STACKS": "stacks/*.yaml",
        "AIPLANE_WORKDIR": str(repo.root),
        "AIPLANE_PLANS_DIR": str(tmp / "plans"),
        "NO_COLOR": "1",
        **env,
    }
    return subprocess.run([sys.executable, "-m", "aiplane.gitops.action", mode], env=full,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


def pull(number: int, base: str, head: str, labels: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"number": number, "base": {"sha": base}, "head": {"sha": head},
            "labels": [{"name": n} for n in labels]}  # fmt: skip
