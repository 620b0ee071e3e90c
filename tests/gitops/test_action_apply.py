"""The action's apply mode refuses what it must, before touching any cluster; and the
action.yml wiring stays consistent with the Python it runs."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
import yaml

from aiplane import __version__
from tests.gitops.action_run import run_action
from tests.gitops.conftest import GitRepo
from tests.gitops.fake_github import FakeGitHub

REPO = Path(__file__).resolve().parents[2]


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def _merged(fake: FakeGitHub, sha: str, head: str) -> None:
    fake.state.pulls_by_commit[sha] = [
        {"number": 3, "head": {"sha": head}, "merged_at": "2026-12-05T23:10:00Z"}
    ]


def _artifact(fake: FakeGitHub, head: str, index: list[dict[str, object]]) -> None:
    fake.state.blobs[55] = _zip({"plans.json": json.dumps(index)})
    fake.state.artifacts.append({"id": 55, "name": "aiplane-plans-pr3", "expired": False,
                                 "created_at": "2026-12-05T23:00:00Z",
                                 "workflow_run": {"head_sha": head}})  # fmt: skip


def _apply(repo: GitRepo, fake: FakeGitHub, tmp: Path, sha: str) -> str:
    res = run_action(repo, fake, {}, tmp, "apply", GITHUB_SHA=sha,
                     AIPLANE_KUBECONFIG="apiVersion: v1\nkind: Config\n")  # fmt: skip
    return f"exit {res.returncode}\n{res.stdout}{res.stderr}"


def test_push_without_a_merged_pr_is_refused(
    stack_repo: GitRepo, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    sha = stack_repo.git("rev-parse", "HEAD")
    out = _apply(stack_repo, fake_github, tmp_path, sha)
    assert out.startswith("exit 1") and "came from no merged pull request" in out
    assert fake_github.calls("GET", "/artifacts") == []


def test_plan_of_an_older_pr_commit_is_stale(
    stack_repo: GitRepo, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    sha = stack_repo.git("rev-parse", "HEAD")
    _merged(fake_github, sha, head="b" * 40)
    _artifact(fake_github, "a" * 40, [])
    out = _apply(stack_repo, fake_github, tmp_path, sha)
    assert out.startswith("exit 1") and "plan is stale" in out and "aaaaaaaaaaaa" in out
    assert not [r for r in fake_github.state.requests if r.path.startswith("/blob/")]


def test_merged_with_a_blocked_plan_is_refused(
    stack_repo: GitRepo, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    sha = stack_repo.git("rev-parse", "HEAD")
    _merged(fake_github, sha, head=sha)
    _artifact(fake_github, sha, [{"stack_file": "stacks/seed.yaml", "exit_code": 3,
                                  "plan_file": "", "flags": []}])  # fmt: skip
    out = _apply(stack_repo, fake_github, tmp_path, sha)
    assert out.startswith("exit 1") and "stacks/seed.yaml (exit 3)" in out
    blob = [r for r in fake_github.state.requests if r.path.startswith("/blob/")]
    assert blob and all("Authorization" not in r.headers for r in blob)  # token stays with the API


def test_nothing_to_apply_passes(
    stack_repo: GitRepo, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    sha = stack_repo.git("rev-parse", "HEAD")
    _merged(fake_github, sha, head=sha)
    _artifact(fake_github, sha, [{"stack_file": "stacks/seed.yaml", "exit_code": 0,
                                  "plan_file": "", "flags": []}])  # fmt: skip
    out = _apply(stack_repo, fake_github, tmp_path, sha)
    assert out.startswith("exit 0") and "no changes; nothing to apply" in out


def test_zip_members_cannot_escape(tmp_path: Path) -> None:
    from aiplane.errors import AiplaneError
    from aiplane.gitops.merge_apply import extract

    with pytest.raises(AiplaneError, match="escapes"):
        extract(_zip({"../evil.json": "{}"}), tmp_path / "plans")
    assert not (tmp_path / "evil.json").exists()


def test_action_yml_runs_this_module_and_pins_this_version() -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert {"mode", "stacks", "working-directory", "against", "kubeconfig"} <= set(action["inputs"])
    steps = action["runs"]["steps"]
    install = next(s for s in steps if "pip" in s.get("run", ""))
    assert install["env"]["AIPLANE_PINNED_VERSION"] == __version__
    run = next(s for s in steps if "aiplane.gitops.action" in s.get("run", ""))
    for name in ("AIPLANE_STACKS", "AIPLANE_KUBECONFIG", "AIPLANE_PLANS_DIR", "GITHUB_TOKEN"):
        assert name in run["env"]
    # inputs reach scripts through env only: no ${{ }} inside a run script (script injection)
    for step in steps:
        assert not re.search(r"\$\{\{", step.get("run", "")), step
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["name"] == "aiplane-plans-pr${{ github.event.pull_request.number }}"


def test_example_workflows_use_the_action() -> None:
    for name in ("aiplane-pr-plan.yml", "aiplane-live.yml"):
        doc = yaml.safe_load((REPO / "docs/examples" / name).read_text())
        uses = [s.get("uses", "") for job in doc["jobs"].values() for s in job["steps"]]
        assert any(u.startswith("acme/aiplane@v") for u in uses), name
    live = yaml.safe_load((REPO / "docs/examples/aiplane-live.yml").read_text())
    assert live["jobs"]["apply"]["environment"] == "production"
    ci = yaml.safe_load((REPO / ".github/workflows/ci.yml").read_text())
    assert {"uses": "./", "with": {"stacks": "stacks/*.yaml"}} in ci["jobs"]["plan-comment"][
        "steps"
    ]
