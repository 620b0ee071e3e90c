"""The action's apply mode (on ``push`` after a merge); see ``aiplane.gitops.action``."""

from __future__ import annotations

import io
import json
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiplane.errors import AiplaneError
from aiplane.gitops.action_context import Context, aiplane
from aiplane.gitops.github import GitHub
from aiplane.gitops.pr_plan import INDEX


def artifact_name(number: int) -> str:
    return f"aiplane-plans-pr{number}"


def merged_pull(gh: GitHub, sha: str) -> Mapping[str, Any]:
    pulls = [p for p in gh.pulls_of_commit(sha) if p.get("merged_at")]
    if not pulls:
        raise AiplaneError(
            f"apply: commit {sha[:12]} came from no merged pull request; only reviewed plans "
            "are applied"
        )
    return pulls[0]


def fetch_plans(ctx: Context, pr: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Download the PR's saved plans into ``plans_dir``; refuse plans of an older PR commit."""
    name = artifact_name(int(pr["number"]))
    found = [a for a in ctx.gh.artifacts_named(name) if not a.get("expired")]
    if not found:
        raise AiplaneError(f"apply: no artifact {name}: the PR was never planned live")
    newest = max(found, key=lambda a: str(a.get("created_at", "")))
    planned_at = str((newest.get("workflow_run") or {}).get("head_sha", ""))
    last = str(pr["head"]["sha"])
    if planned_at != last:
        raise AiplaneError(
            f"apply: plan is stale: {name} was made for {planned_at[:12] or 'an unknown commit'}, "
            f"but the PR's last commit is {last[:12]}; nothing was applied"
        )
    data = ctx.gh.download_artifact(int(newest["id"]))
    ctx.plans_dir.mkdir(parents=True, exist_ok=True)
    extract(data, ctx.plans_dir)
    entries: list[dict[str, Any]] = json.loads((ctx.plans_dir / INDEX).read_text())
    return entries


def extract(data: bytes, target: Path) -> None:
    """Unzip, refusing any member that would land outside ``target``."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for member in zf.namelist():
            dest = (target / member).resolve()
            if not dest.is_relative_to(target.resolve()):
                raise AiplaneError(f"apply: artifact member {member!r} escapes the directory")
        zf.extractall(target)


def apply_mode(ctx: Context) -> int:
    """After the merge: apply every saved plan of the PR, or refuse. Exit 0 only if all applied."""
    if not ctx.kubeconfig:
        raise AiplaneError("apply mode needs the kubeconfig input (a secret)")
    pr = merged_pull(ctx.gh, ctx.sha)
    entries = fetch_plans(ctx, pr)
    refused = [e for e in entries if e["exit_code"] not in (0, 2)]
    if refused:
        names = ", ".join(f"{e['stack_file']} (exit {e['exit_code']})" for e in refused)
        raise AiplaneError(f"apply: the PR was merged with failed or blocked plans: {names}")
    status = 0
    for e in entries:
        if e["exit_code"] == 0:
            print(f"{e['stack_file']}: no changes; nothing to apply")
            continue
        plan_file = str(ctx.plans_dir / e["plan_file"])
        proc = aiplane(["apply", plan_file, "--kubeconfig", ctx.kubeconfig, *e.get("flags", [])],
                       ctx.workdir)  # fmt: skip
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr)
        print(f"{e['stack_file']}: apply exit {proc.returncode}")
        status = status or proc.returncode
    return status
