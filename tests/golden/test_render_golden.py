"""Golden files: every example stack × render target, compared as parsed YAML.

``tests/golden/<stack>/<target>.yaml`` holds the target's objects as a multi-document YAML
stream. After an intended change, regenerate and review the diff::

    AIPLANE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden

Regeneration is refused under CI (``CI`` set): CI only compares. A new ``stacks/*.yaml`` is picked
up automatically and fails until its golden files are generated.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from aiplane.check import load_and_check
from aiplane.commands.render import to_yaml
from aiplane.render import render_target, targets

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent
STACKS = sorted((REPO / "stacks").glob("*.yaml"))
UPDATE = os.environ.get("AIPLANE_UPDATE_GOLDEN") == "1" and not os.environ.get("CI")

CASES = [
    pytest.param(stack.name, target, id=f"{stack.stem}-{target}")
    for stack in STACKS
    for target in targets()
]


@pytest.mark.parametrize(("stack", "target"), CASES)
def test_golden(stack: str, target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Render from the repo root so source annotations read stacks/<file>#L<n> everywhere.
    monkeypatch.chdir(REPO)
    objects, _ = render_target(load_and_check(f"stacks/{stack}"), target)
    golden = GOLDEN / Path(stack).stem / f"{target}.yaml"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(to_yaml(objects))
    if not golden.exists():
        pytest.fail(
            f"{golden.relative_to(REPO)} missing; run AIPLANE_UPDATE_GOLDEN=1 pytest tests/golden"
        )
    expected = [doc for doc in yaml.safe_load_all(golden.read_text()) if doc is not None]
    assert objects == expected, (
        f"{target} output of {stack} differs from {golden.relative_to(REPO)}"
    )
