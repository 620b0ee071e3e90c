"""The GitHub Action's logic (action.yml runs ``python -m aiplane.gitops.action plan|apply``).

``plan`` (on ``pull_request``): plan every stack file matched by the ``stacks`` input that the PR
changes, offline against the PR's base commit when no kubeconfig is given, live otherwise (and
then save the plans for apply); post or update one comment per stack; report one check run per
stack (0 and 2 pass, 1 fails, 3 needs approval). PR labels ``aiplane/allow-disruption`` and
``aiplane/allow-delete`` are the approvals: the plan (and later the apply) passes the flag.

``apply`` (on ``push`` to the default branch, i.e. after the merge): find the PR the commit came
from, download its saved plans (artifact ``aiplane-plans-pr<N>``), refuse them unless they were
made for the PR's last commit, and ``aiplane apply`` each one, which itself refuses a plan the
cluster or the stack moved away from.

Settings come from the environment (action.yml maps its inputs): ``AIPLANE_STACKS`` (globs),
``AIPLANE_WORKDIR``, ``AIPLANE_AGAINST`` (default: the PR's base commit), ``AIPLANE_KUBECONFIG``
(the kubeconfig's text, from a secret; never written to the log), ``AIPLANE_PLANS_DIR``, and
GitHub's own ``GITHUB_*`` variables.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiplane.errors import AiplaneError
from aiplane.gitops.comment import MARKER, PlanResult, comment_body, conclusion, marker
from aiplane.gitops.github import GitHub

APPROVAL_LABELS = {"aiplane/allow-disruption": "--allow-disruption",
                   "aiplane/allow-delete": "--allow-delete"}  # fmt: skip
INDEX = "plans.json"


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


# --- which stacks -----------------------------------------------------------------------------


def git(args: Sequence[str], cwd: Path) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AiplaneError(f"git {' '.join(args)}: {proc.stderr.strip() or 'failed'}")
    return proc.stdout


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


# --- plan -------------------------------------------------------------------------------------


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


def upsert_comment(gh: GitHub, number: int, stack_file: str, body: str) -> tuple[str, int]:
    """Update the stack's comment if there is one (found by its marker), else create it."""
    tag = marker(stack_file)
    for c in gh.issue_comments(number):
        if str(c.get("body", "")).startswith(tag):
            gh.update_comment(int(c["id"]), body)
            return "updated", int(c["id"])
    return "created", int(gh.create_comment(number, body)["id"])


def retire_comments(gh: GitHub, number: int, planned: Sequence[str]) -> list[int]:
    """Mark the comments of stacks this PR no longer changes, so no stale plan stays up."""
    prefix = MARKER.split("{}")[0]
    done = []
    current = {marker(f) for f in planned}
    for c in gh.issue_comments(number):
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
    index, worst = [], 0
    for file in stacks:
        result, saved = plan_stack(ctx, file, base, flags)
        body = comment_body(result)
        what, cid = upsert_comment(ctx.gh, number, file, body)
        report_check(ctx, result, body)
        print(f"{file}: exit {result.exit_code} ({conclusion(result.exit_code)[1]}); "
              f"comment {cid} {what}")  # fmt: skip
        if result.exit_code == 1:
            print(result.errors, file=sys.stderr)
        index.append({"stack_file": file, "exit_code": result.exit_code, "plan_file": saved,
                      "flags": flags, "head_sha": head})  # fmt: skip
        worst = max(worst, 1 if result.exit_code == 1 else 0)
    retire_comments(ctx.gh, number, stacks)
    if not stacks:
        print("no stack file matched by the stacks input changes in this PR")
    ctx.plans_dir.mkdir(parents=True, exist_ok=True)
    (ctx.plans_dir / INDEX).write_text(json.dumps(index, indent=1) + "\n")
    return worst


# --- apply ------------------------------------------------------------------------------------


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
    import io

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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``python -m aiplane.gitops.action plan|apply``."""
    args = list(sys.argv[1:] if argv is None else argv)
    mode = args[0] if args else ""
    if mode not in ("plan", "apply"):
        print("usage: python -m aiplane.gitops.action plan|apply", file=sys.stderr)
        return 1
    ctx: Context | None = None
    try:
        ctx = context_from_env(os.environ)
        return plan_mode(ctx) if mode == "plan" else apply_mode(ctx)
    except AiplaneError as exc:
        print(f"aiplane action: {exc}", file=sys.stderr)
        return 1
    finally:
        if ctx is not None and ctx.kubeconfig:
            Path(ctx.kubeconfig).unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
