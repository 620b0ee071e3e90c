"""The CLI as users meet it: exit codes, clean errors, schema drift and start-up imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
STACKS = sorted((ROOT / "stacks").glob("*.yaml"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aiplane", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.parametrize("stack", STACKS, ids=[s.name for s in STACKS])
def test_examples_validate(stack: Path) -> None:
    result = run("validate", str(stack.relative_to(ROOT)))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


@pytest.mark.parametrize("stack", STACKS, ids=[s.name for s in STACKS])
def test_examples_point_editors_at_the_schema(stack: Path) -> None:
    first = stack.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/stack.schema.json"


def test_invalid_stack_exits_1_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: aiplane.dev/v1alpha1\nkind: Stack\nmetadata: {name: x}\nspec:\n  gpuPool: []\n"
    )
    result = run("validate", str(bad))
    assert result.returncode == 1
    assert f"{bad}:5:3: spec.gpuPool: unknown field (did you mean 'gpuPools'?)" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_exits_1(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert "cannot read file" in result.stderr and "Traceback" not in result.stderr


def test_committed_schema_matches_models() -> None:
    result = run("schema")
    assert result.returncode == 0
    committed = (ROOT / "schemas" / "stack.schema.json").read_text()
    assert result.stdout == committed, (
        "schemas/stack.schema.json drifted: run `aiplane schema > schemas/stack.schema.json`"
    )
    assert json.loads(committed)["title"] == "Stack"


def test_examples_pass_the_json_schema() -> None:
    import jsonschema
    import yaml

    schema = json.loads((ROOT / "schemas" / "stack.schema.json").read_text())
    for stack in STACKS:
        jsonschema.validate(yaml.safe_load(stack.read_text()), schema)


HEAVY = ("kubernetes", "hera", "httpx", "highspy", "jsonschema")


@pytest.mark.parametrize("argv", [["--help"], ["validate", "stacks/seed.yaml"]])
def test_light_commands_do_not_import_heavy_modules(argv: list[str]) -> None:
    probe = (
        "import sys, runpy\n"
        f"sys.argv = ['aiplane', *{argv!r}]\n"
        "try:\n    runpy.run_module('aiplane', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        f"heavy = [m for m in sys.modules if m.split('.')[0] in {HEAVY!r}]\n"
        "print('HEAVY=' + ','.join(sorted(heavy)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=False
    )
    line = [x for x in result.stdout.splitlines() if x.startswith("HEAVY=")]
    assert line == ["HEAVY="], result.stdout + result.stderr


def test_validate_runs_without_young_generation_collections() -> None:
    """The CLI raises the collector's young-generation threshold when it starts: `validate`
    then builds the stack models without a pass of the cyclic collector (74 at the default)."""
    probe = (
        "import gc\n"
        "import aiplane.cli as cli\n"
        "passes = []\n"
        "gc.callbacks.append(lambda phase, info: passes.append(1) if phase == 'stop' else None)\n"
        "try:\n    cli.main(['validate', 'stacks/seed.yaml'])\n"
        "except SystemExit:\n    pass\n"
        "print('PASSES=' + str(len(passes)) + ' THRESHOLD=' + str(gc.get_threshold()[0]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=False
    )
    line = [x for x in result.stdout.splitlines() if x.startswith("PASSES=")]
    assert line == ["PASSES=0 THRESHOLD=100000"], result.stdout + result.stderr


def test_readme_reference_is_current() -> None:
    from aiplane.stack.reference import BEGIN, END, stack_reference

    text = (ROOT / "README.md").read_text()
    block = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert block == stack_reference(), "README stack reference drifted: run `make schema`"


def test_init_writes_a_valid_stack_and_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "stack.yaml"
    assert run("init", str(target), "--name", "demo").returncode == 0
    assert run("validate", str(target)).returncode == 0
    again = run("init", str(target))
    assert again.returncode == 1 and "already exists" in again.stderr


def test_init_works_from_the_files_a_wheel_ships(tmp_path: Path) -> None:
    """Only the package's modules and its declared package data (pyproject) are copied, as a
    wheel holds them; ``aiplane init`` must still find its template there."""
    import fnmatch
    import shutil
    import tomllib

    repo = Path(__file__).resolve().parents[2]
    globs = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["aiplane"]
    site = tmp_path / "site"
    for path in (repo / "aiplane").rglob("*"):
        rel = path.relative_to(repo / "aiplane").as_posix()
        if path.is_file() and (path.suffix == ".py" or any(fnmatch.fnmatch(rel, g) for g in globs)):
            (site / "aiplane" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, site / "aiplane" / rel)
    target = tmp_path / "elsewhere" / "stack.yaml"
    target.parent.mkdir()
    result = subprocess.run(
        [sys.executable, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
         "from aiplane.cli import main; sys.argv = sys.argv[1:]; main()",
         str(site), "init", str(target), "--name", "wheel"],
        cwd=target.parent, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "name: wheel" in target.read_text()
