"""``aiplane diff FILE [--against REF]``: the summary in stack terms, nothing else."""

from __future__ import annotations

import subprocess
import sys

from tests.gitops.conftest import GitRepo


def diff(repo: GitRepo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiplane", "diff", *args], cwd=repo.root,
                          capture_output=True, text=True, check=False, timeout=120)  # fmt: skip


def test_diff_against_head_is_the_summary_only(stack_repo: GitRepo) -> None:
    assert "no changes" in diff(stack_repo, "stacks/seed.yaml").stdout
    stack_repo.edit("stacks/seed.yaml", "weight: 90", "weight: 75")
    stack_repo.edit("stacks/seed.yaml", "weight: 10", "weight: 25")
    stack_repo.edit("stacks/seed.yaml", "2g.20gb: 1\n              1g.10gb: 2", "1g.10gb: 4")
    res = diff(stack_repo, "stacks/seed.yaml")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert out.startswith("stack seed: stacks/seed.yaml against stacks/seed.yaml at HEAD")
    assert "~ model llama-70b: v2.0 90 -> 75 %, v2.1 10 -> 25 %  (stacks/seed.yaml#L" in out
    assert "[node-disruptive]" in out
    assert "blocked: ConfigMap/gpu-operator/" in out and "--allow-disruption" in out
    assert "Changes" not in out and "data.config.yaml" not in out  # no per-object field diffs


def test_diff_shows_the_gpu_delta_and_fails_cleanly(stack_repo: GitRepo) -> None:
    stack_repo.edit("stacks/laptop.yaml", "nodes: 1\n      gpusPerNode: 1",
                    "nodes: 1\n      gpusPerNode: 2")  # fmt: skip
    stack_repo.edit(
        "stacks/laptop.yaml", "      pool: local", "      pool: local\n      replicas: 2"
    )
    out = diff(stack_repo, "stacks/laptop.yaml").stdout
    assert "~ model qwen-small v1: replicas 1 -> 2" in out, out
    assert "gpu pool local: 1 -> 2 of 2 L4-24GB GPUs (+1)" in out
    res = diff(stack_repo, "stacks/laptop.yaml", "--against", "no-such-rev")
    assert res.returncode == 1 and res.stdout == "" and "no-such-rev" in res.stderr
