"""What ``aiplane validate`` must not pay for at start-up: attribute docstrings (only the schema
and the reference need them) and the placement planner (counting settles the seed stack)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_FOR_VALIDATE = ("aiplane.gpu.planner", "aiplane.gpu.solver", "aiplane.gpu.greedy")


def test_validate_builds_no_docstrings_and_loads_no_planner() -> None:
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['aiplane', 'validate', 'stacks/seed.yaml']\n"
        "try:\n    runpy.run_module('aiplane', run_name='__main__')\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "from aiplane.stack.sections.base import EnvSource\n"
        "print('DOC=' + repr(EnvSource.model_fields['secret_ref'].description))\n"
        f"print('LOADED=' + ','.join(m for m in {NOT_FOR_VALIDATE!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=False
    )
    lines = [x for x in result.stdout.splitlines() if x.startswith(("DOC=", "LOADED="))]
    assert lines == ["DOC=None", "LOADED="], result.stdout + result.stderr


def test_schema_fields_get_their_attribute_docstrings() -> None:
    from aiplane.stack.docs import with_attribute_docs
    from aiplane.stack.models import Stack
    from aiplane.stack.sections.base import EnvSource

    with_attribute_docs(Stack)
    assert EnvSource.model_fields["secret_ref"].description == "Secret and key holding the value."
    schema = EnvSource.model_json_schema(by_alias=True)
    assert schema["properties"]["secretRef"]["description"] == "Secret and key holding the value."
