"""Fixtures for the GitOps tests: a throwaway git repository with the example stacks."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gitops.fake_github import FakeGitHub

REPO = Path(__file__).resolve().parents[2]


class GitRepo:
    """A git repository in a temporary directory; ``commit`` returns the new sha."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.email", "test@example.invalid")
        self.git("config", "user.name", "test")

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.root, check=True, capture_output=True,
                              text=True).stdout.strip()  # fmt: skip

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def edit(self, rel: str, old: str, new: str) -> None:
        text = (self.root / rel).read_text()
        assert old in text, f"{rel}: {old!r} not found"
        self.write(rel, text.replace(old, new, 1))

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def stack_repo(tmp_path: Path) -> GitRepo:
    """A repository whose first commit holds stacks/seed.yaml and stacks/laptop.yaml."""
    repo = GitRepo(tmp_path / "repo")
    for name in ("seed.yaml", "laptop.yaml"):
        repo.write(f"stacks/{name}", (REPO / "stacks" / name).read_text())
    repo.commit("base")
    return repo


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


@pytest.fixture
def kustomize() -> Path:
    """kustomize built from its Go module (cached); a failed build fails the test."""
    from tests.servers.kustomize import kustomize_binary

    try:
        return kustomize_binary()
    except Exception as exc:  # never skip: the Flux check must run
        pytest.fail(f"building kustomize failed: {exc}", pytrace=False)


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".git"))
    return dst
