"""The action's plan mode against a fake GitHub: comments created once then edited in place,
check-run conclusions from exit codes, truncation under GitHub's limit, approval labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiplane.gitops.comment import COMMENT_LIMIT, PlanResult, comment_body, conclusion, marker
from tests.gitops.action_run import pull, run_action
from tests.gitops.conftest import GitRepo
from tests.gitops.fake_github import FakeGitHub

CANARY = ("weight: 90", "weight: 75")
MIG = ("2g.20gb: 1\n              1g.10gb: 2", "1g.10gb: 4")


def comments_for(fake: FakeGitHub, number: int, stack: str) -> list[dict[str, Any]]:
    return [c for c in fake.state.comments.get(number, []) if c["body"].startswith(marker(stack))]


def test_comment_is_created_once_then_updated_in_place(
    stack_repo: GitRepo, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    base = stack_repo.git("rev-parse", "HEAD")
    stack_repo.edit("stacks/seed.yaml", *CANARY)
    stack_repo.edit("stacks/seed.yaml", "weight: 10", "weight: 25")
    stack_repo.write("stacks/new.yaml", (stack_repo.root / "stacks/laptop.yaml").read_text()
                     .replace("name: laptop", "name: newstack"))  # fmt: skip
    head1 = stack_repo.commit("canary 25 %, new stack")
    res = run_action(stack_repo, fake_github, pull(7, base, head1), tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr

    seed = comments_for(fake_github, 7, "stacks/seed.yaml")
    new = comments_for(fake_github, 7, "stacks/new.yaml")
    assert len(seed) == 1 and len(new) == 1
    assert comments_for(fake_github, 7, "stacks/laptop.yaml") == []  # unchanged: not planned
    body = seed[0]["body"]
    assert "model llama-70b" in body and "v2.0 90 -> 75 %" in body  # summary in stack terms
    assert body.index("model llama-70b") < body.index("<details>")  # summary before the diffs
    assert head1[:12] in body
    assert "nothing (--against empty)" in new[0]["body"]  # new file: planned against nothing
    assert len(fake_github.calls("POST", "/comments")) == 2

    # second push: the same two comments are edited, nothing new is posted
    stack_repo.edit("stacks/seed.yaml", "weight: 75", "weight: 60")
    stack_repo.edit("stacks/seed.yaml", "weight: 25", "weight: 40")
    head2 = stack_repo.commit("canary 40 %")
    res = run_action(stack_repo, fake_github, pull(7, base, head2), tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert len(fake_github.calls("POST", "/comments")) == 2
    assert len(fake_github.calls("PATCH", "/issues/comments/")) == 2
    seed = comments_for(fake_github, 7, "stacks/seed.yaml")
    assert len(seed) == 1 and "v2.0 90 -> 60 %" in seed[0]["body"] and head2[:12] in seed[0]["body"]
    assert len(fake_github.state.comments[7]) == 2

    # third push drops the new stack: its comment is retired, not left with a stale plan
    (stack_repo.root / "stacks/new.yaml").unlink()
    head3 = stack_repo.commit("drop the new stack")
    res = run_action(stack_repo, fake_github, pull(7, base, head3), tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    new = comments_for(fake_github, 7, "stacks/new.yaml")
    assert len(new) == 1 and "no longer changes this stack" in new[0]["body"]
    assert len(fake_github.state.comments[7]) == 2
    assert len(fake_github.calls("GET", "/issues/7/comments")) == 3  # listed once per run
    # every request carried the token; check runs name the stack and the head commit
    runs = [
        r for r in fake_github.state.check_runs if r["name"] == "aiplane plan: stacks/seed.yaml"
    ]
    assert [r["head_sha"] for r in runs] == [head1, head2, head3]
    assert all(r["conclusion"] == "success" for r in runs)
    assert runs[0]["details_url"] == "https://github.example/acme/infra/actions/runs/42"


def test_exit_codes_become_check_conclusions(
    stack_repo: GitRepo, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    base = stack_repo.git("rev-parse", "HEAD")
    stack_repo.edit("stacks/seed.yaml", *MIG)  # a MIG re-partition: node-disruptive, gated
    stack_repo.edit("stacks/laptop.yaml", "gpu: L4", "gpu: L4X")  # not a GPU: plan fails
    head = stack_repo.commit("re-partition; break laptop")
    res = run_action(stack_repo, fake_github, pull(9, base, head), tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr  # a failed plan fails the step
    runs = {r["name"]: r for r in fake_github.state.check_runs}
    assert runs["aiplane plan: stacks/seed.yaml"]["conclusion"] == "action_required"
    assert runs["aiplane plan: stacks/laptop.yaml"]["conclusion"] == "failure"
    seed = comments_for(fake_github, 9, "stacks/seed.yaml")[0]["body"]
    assert "blocked" in seed and "--allow-disruption" in seed and "node-disruptive" in seed
    laptop = comments_for(fake_github, 9, "stacks/laptop.yaml")[0]["body"]
    assert "stacks/laptop.yaml:12:7: spec.gpuPools[0].gpu: unknown GPU model" in laptop

    # the approval label lifts the gate: same change, now "changes to apply"
    res = run_action(stack_repo, fake_github, pull(9, base, head, ("aiplane/allow-disruption",)),
                     tmp_path)  # fmt: skip
    seed_runs = [r for r in fake_github.state.check_runs
                 if r["name"] == "aiplane plan: stacks/seed.yaml"]  # fmt: skip
    assert seed_runs[-1]["conclusion"] == "success"
    assert len(comments_for(fake_github, 9, "stacks/seed.yaml")) == 1


def test_conclusion_table() -> None:
    assert conclusion(0)[0] == "success"
    assert conclusion(2)[0] == "success"
    assert conclusion(3)[0] == "action_required"
    assert conclusion(1)[0] == "failure"
    assert conclusion(137)[0] == "failure"  # killed: never a pass


def test_long_plan_is_cut_with_a_notice_under_the_limit() -> None:
    block = "\n<details><summary>x</summary>\n\n```diff\n" + "+ line\n" * 400 + "```\n</details>\n"
    markdown = "### aiplane plan\n\nSummary first\n" + block * 60
    assert len(markdown) > COMMENT_LIMIT
    body = comment_body(PlanResult("stacks/big.yaml", 2, markdown, head_sha="a" * 40))
    assert len(body) <= COMMENT_LIMIT
    assert body.startswith(marker("stacks/big.yaml"))
    assert "**Truncated:**" in body and "Summary first" in body
    assert body.count("<details>") == body.count("</details>")  # cut at a block boundary
    assert body.rstrip().endswith("</sub>")  # the footer survives the cut
    # a short plan is left whole
    short = comment_body(PlanResult("stacks/s.yaml", 0, "### plan\n\nno changes"))
    assert "Truncated" not in short and "no changes" in short


def test_real_large_plan_fits_in_one_comment(
    stack_repo: GitRepo, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """The production example against nothing: far more diff than a comment holds."""
    base = stack_repo.git("rev-parse", "HEAD")
    root = Path(__file__).resolve().parents[2]
    stack_repo.write("stacks/production.yaml", (root / "stacks/production.yaml").read_text())
    # its registry reference is pinned by the lock committed beside it (no registry needed)
    stack_repo.write("stacks/aiplane.lock", (root / "stacks/aiplane.lock").read_text())
    head = stack_repo.commit("add production")
    res = run_action(stack_repo, fake_github, pull(11, base, head), tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    body = comments_for(fake_github, 11, "stacks/production.yaml")[0]["body"]
    assert len(body) <= COMMENT_LIMIT
    assert "Truncated" in body
    assert body.count("<details>") == body.count("</details>")


def test_gpu_and_cost_delta_is_visible_without_expanding(
    stack_repo: GitRepo, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    base = stack_repo.git("rev-parse", "HEAD")
    stack_repo.edit(
        "stacks/seed.yaml", "nodes: 2\n      gpusPerNode: 8", "nodes: 3\n      gpusPerNode: 8"
    )
    stack_repo.edit("stacks/seed.yaml", "  models:\n", "  models:\n" + MORE_H100)
    head = stack_repo.commit("a second 70B model on the H100 pool")
    res = run_action(stack_repo, fake_github, pull(12, base, head), tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    body = comments_for(fake_github, 12, "stacks/seed.yaml")[0]["body"]
    visible = body.split("<details>")[0]
    assert "GPU / cost change" in visible, body[:3000]
    assert "pool h100: 12 -> 16 of 24 H100-80GB GPUs (+4)" in visible and "(+27.52/h)" in visible


MORE_H100 = """    - name: llama-70b-b
      architecture: meta-llama/Llama-3.1-70B-Instruct
      versions:
        - name: v1
          source: hf://meta-llama/Llama-3.1-70B-Instruct
          revision: 1605565b47bb9346c5515c34102e054115b4f98b
      deployments:
        - version: v1
          stage: production
      serving:
        tensorParallelSize: 4
        maxModelLen: 8192
      resources:
        gpus: 4
      pool: h100
"""
