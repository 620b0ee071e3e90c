"""The action's plan mode (on ``pull_request``); see ``aiplane.gitops.action``."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aiplane.errors import AiplaneError
from aiplane.gitops.action_context import Context, aiplane, git
from aiplane.gitops.comment import MARKER, PlanResult, comment_body, conclusion, marker
from aiplane.gitops.github import GitHub

APPROVAL_LABELS = {"aiplane/allow-disruption": "--allow-disruption",
                   "aiplane/allow-delete": "--allow-delete"}  # fmt: skip
INDEX = "plans.json"


def changed_files(base: str, head: str, cwd: Path) -> set[Path]:
    """Absolute paths of the files the PR changes (``base...head``: since the merge base)."""
    root = Path(git(["rev-parse", "--show-toplevel"], cwd).strip())
    names = git(["diff", "--name-only", "--no-renames", f"{base}...{head}"], cwd).splitlines()
    return {(root / n).resolve() for n in names if n}


def select_stacks(patterns: Sequence[str], workdir: Path, changed: set[Path] | None) -> list[str]:
    """Stack files (relative to ``workdir``) matched by ``patterns`` and, if given, changed."""
    found: set[str] = set()
    for pattern in patterns or ["**/*.yaml"]:
        for name in glob.glob(pattern, root_dir=workdir, recursive=True):
            path = (workdir / name).resolve()
            if path.is_file() and (changed is None or path in changed):
                found.add(os.path.relpath(path, workdir))
    return sorted(found)


def exists_at(rev: str, file: str, cwd: Path) -> bool:
    proc = subprocess.run(["git", "cat-file", "-e", f"{rev}:./{file}"], cwd=cwd,
                          capture_output=True, check=False)  # fmt: skip
    return proc.returncode == 0


def approvals(labels: Sequence[Mapping[str, Any]]) -> list[str]:
    """The gate flags the PR's labels grant."""
    names = {str(label.get("name", "")) for label in labels}
    return sorted(flag for name, flag in APPROVAL_LABELS.items() if name in names)


def plan_stack(ctx: Context, file: str, base: str, flags: Sequence[str]) -> tuple[PlanResult, str]:
    """Plan one stack; return the result and the saved plan's file name ("" when not saved)."""
    args = ["plan", file, "--markdown", "--detailed-exitcode", *flags]
    saved = ""
    if ctx.kubeconfig:
        saved = slug(file) + ".plan.json"
        ctx.plans_dir.mkdir(parents=True, exist_ok=True)
        args += ["--kubeconfig", ctx.kubeconfig, "--out", str(ctx.plans_dir / saved)]
    else:
        against = ctx.against or base
        args += ["--against", against if exists_at(against, file, ctx.workdir) else "empty"]
    proc = aiplane(args, ctx.workdir)
    head = str(((ctx.event.get("pull_request") or {}).get("head") or {}).get("sha", ""))
    result = PlanResult(file, proc.returncode, proc.stdout, proc.stderr,
                        "live" if ctx.kubeconfig else "offline", head, ctx.run_url)  # fmt: skip
    return result, saved if proc.returncode in (0, 2) else ""


def slug(file: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in file).strip("_.")


def upsert_comment(
    gh: GitHub, number: int, stack_file: str, body: str, existing: Sequence[Mapping[str, Any]]
) -> tuple[str, int]:
    """Update the stack's comment if there is one (found by its marker), else create it.
    ``existing``: the PR's comments, listed once per run."""
    tag = marker(stack_file)
    for c in existing:
        if str(c.get("body", "")).startswith(tag):
            gh.update_comment(int(c["id"]), body)
            return "updated", int(c["id"])
    return "created", int(gh.create_comment(number, body)["id"])


def retire_comments(
    gh: GitHub, planned: Sequence[str], existing: Sequence[Mapping[str, Any]]
) -> list[int]:
    """Mark the comments of stacks this PR no longer changes, so no stale plan stays up."""
    prefix = MARKER.split("{}")[0]
    done = []
    current = {marker(f) for f in planned}
    for c in existing:
        body = str(c.get("body", ""))
        first = body.split("\n", 1)[0]
        if first.startswith(prefix) and first not in current and "no longer changes" not in body:
            stack = first[len(prefix) :].removesuffix(" -->")
            gh.update_comment(int(c["id"]), f"{first}\n~~plan~~ `{stack}`: the PR no longer "
                              "changes this stack; its earlier plan was removed.\n")  # fmt: skip
            done.append(int(c["id"]))
    return done


def report_check(ctx: Context, result: PlanResult, body: str) -> None:
    state, meaning = conclusion(result.exit_code)
    payload = {
        "name": f"aiplane plan: {result.stack_file}",
        "head_sha": result.head_sha or ctx.sha,
        "status": "completed",
        "conclusion": state,
        "output": {"title": f"{result.stack_file}: {meaning}", "summary": body[:65_000]},
    }
    if ctx.run_url:
        payload["details_url"] = ctx.run_url
    ctx.gh.create_check_run(payload)


def plan_mode(ctx: Context) -> int:
    """On a pull request: plan, comment, check. Exit 1 when a plan failed, else 0."""
    pr = ctx.event.get("pull_request")
    if not pr:
        raise AiplaneError("plan mode runs on pull_request events")
    base, head = str(pr["base"]["sha"]), str(pr["head"]["sha"])
    changed = changed_files(base, head, ctx.workdir)
    stacks = select_stacks(ctx.patterns, ctx.workdir, changed)
    flags = approvals(pr.get("labels") or [])
    number = int(pr["number"])
    existing = ctx.gh.issue_comments(number)  # listed once; found again by marker
    index, worst = [], 0
    for file in stacks:
        result, saved = plan_stack(ctx, file, base, flags)
        body = comment_body(result)
        what, cid = upsert_comment(ctx.gh, number, file, body, existing)
        report_check(ctx, result, body)
        print(f"{file}: exit {result.exit_code} ({conclusion(result.exit_code)[1]}); "
              f"comment {cid} {what}")  # fmt: skip
        if result.exit_code == 1:
            print(result.errors, file=sys.stderr)
        index.append({"stack_file": file, "exit_code": result.exit_code, "plan_file": saved,
                      "flags": flags, "head_sha": head})  # fmt: skip
        worst = max(worst, 1 if result.exit_code == 1 else 0)
    retire_comments(ctx.gh, stacks, existing)
    if not stacks:
        print("no stack file matched by the stacks input changes in this PR")
    ctx.plans_dir.mkdir(parents=True, exist_ok=True)
    (ctx.plans_dir / INDEX).write_text(json.dumps(index, indent=1) + "\n")
    return worst
