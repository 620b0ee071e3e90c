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

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from aiplane.errors import AiplaneError
from aiplane.gitops.action_context import Context, context_from_env
from aiplane.gitops.merge_apply import apply_mode
from aiplane.gitops.pr_plan import plan_mode


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
