"""``aiplane render`` output other appliers can use: a Kubernetes List, no pseudo-kinds in the
apply set, ``-o DIR`` kept exact by its record, and stacks that never overwrite each other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aiplane.commands.render import render_main
from aiplane.errors import AiplaneError
from aiplane.render.output_dir import MANIFEST

REPO = Path(__file__).resolve().parents[2]
SEED = str(REPO / "stacks" / "seed.yaml")
LAPTOP = (REPO / "stacks" / "laptop.yaml").read_text()


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _record(root: Path) -> dict[str, object]:
    doc = json.loads((root / MANIFEST).read_text())
    assert isinstance(doc, dict)
    return doc


def _manifests(root: Path) -> list[dict[str, object]]:
    docs = []
    for path in sorted(root.rglob("*")):
        if path.suffix in (".yaml", ".json"):
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _stack_copy(tmp_path: Path, name: str, extra: str = "") -> str:
    text = LAPTOP.replace("name: laptop", f"name: {name}", 1)
    assert text != LAPTOP
    path = tmp_path / f"{name}.yaml"
    path.write_text(text.replace("maxModelLen: 4096", f"maxModelLen: 4096{extra}"))
    return str(path)


def test_json_is_a_kubernetes_list_without_pseudo_kinds() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "aiplane", "render", SEED, "--format", "json"],
        capture_output=True, text=True, check=True, cwd=REPO,
    )  # fmt: skip
    doc = json.loads(run.stdout)
    assert (doc["apiVersion"], doc["kind"]) == ("v1", "List")
    kinds = {item["kind"] for item in doc["items"]}
    assert "Deployment" in kinds and "ClusterPolicy" in kinds
    assert "NodeLabels" not in kinds
    # Node labels are told as commands a human (or a CI job) can run, on stderr.
    assert (
        "kubectl label nodes -l" in run.stderr and "nvidia.com/mig.config=seed-a100" in run.stderr
    )


def test_yaml_stream_has_no_pseudo_kinds() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "aiplane", "render", SEED],
        capture_output=True, text=True, check=True, cwd=REPO,
    )  # fmt: skip
    kinds = {d["kind"] for d in yaml.safe_load_all(run.stdout) if d}
    assert "NodeLabels" not in kinds and "Deployment" in kinds


def test_out_dir_is_recorded_and_node_labels_are_a_script(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert render_main([SEED], str(out), "yaml") == 0
    record = _record(out)
    assert set(record["files"]) | {MANIFEST} == _files(out)  # type: ignore[arg-type]
    assert all(d["kind"] != "NodeLabels" for d in _manifests(out))
    script = (out / "node-labels.sh").read_text()
    assert "nvidia.com/mig.config=seed-a100" in script and "--overwrite" in script
    assert os.access(out / "node-labels.sh", os.X_OK)


def test_rerender_removes_stale_files_and_only_recorded_ones(tmp_path: Path) -> None:
    stack = tmp_path / "seed.yaml"
    text = (REPO / "stacks" / "seed.yaml").read_text()
    stack.write_text(text)
    out = tmp_path / "out"
    render_main([str(stack)], str(out), "yaml")
    assert "ai-platform/deployment-llama-70b-canary.yaml" in _files(out)
    (out / "ai-platform" / "NOTES.md").write_text("mine")  # a file aiplane did not write
    # Drop the route and the collection: their objects (and the ai-platform files) must go.
    trimmed = text[: text.index("  routes:")]
    stack.write_text(trimmed)
    render_main([str(stack)], str(out), "yaml")
    files = _files(out)
    assert not any("aigatewayroute" in f or "collection" in f for f in files), files
    assert "ai-platform/NOTES.md" in files
    assert set(_record(out)["files"]) | {MANIFEST, "ai-platform/NOTES.md"} == files  # type: ignore[arg-type]


def test_a_record_cannot_delete_outside_the_directory(tmp_path: Path) -> None:
    out = tmp_path / "out"
    render_main([SEED], str(out), "yaml")
    outside = tmp_path / "precious.txt"
    outside.write_text("keep")
    record = _record(out)
    record["files"] = [*record["files"], "../precious.txt"]  # type: ignore[misc]
    (out / MANIFEST).write_text(json.dumps(record))
    render_main([SEED], str(out), "yaml")
    assert outside.read_text() == "keep"


def test_a_foreign_non_empty_directory_is_refused_untouched(tmp_path: Path) -> None:
    out = tmp_path / "manifests"
    out.mkdir()
    (out / "app.yaml").write_text("kind: ConfigMap\n")
    with pytest.raises(AiplaneError, match="not written by aiplane render"):
        render_main([SEED], str(out), "yaml")
    assert _files(out) == {"app.yaml"}


def test_two_stacks_get_one_folder_each(tmp_path: Path) -> None:
    a = _stack_copy(tmp_path, "team-a")
    b = _stack_copy(tmp_path, "team-b")
    # Same namespace and model name: give team-b its own namespace so the objects differ.
    Path(b).write_text(Path(b).read_text().replace("namespace: dev", "namespace: team-b"))
    out = tmp_path / "out"
    assert render_main([a, b], str(out), "yaml") == 0
    files = _files(out)
    assert any(f.startswith("team-a/") for f in files) and any(
        f.startswith("team-b/") for f in files
    )
    assert {s["name"] for s in _record(out)["stacks"]} == {"team-a", "team-b"}  # type: ignore[index, union-attr]


def test_two_stacks_rendering_one_object_differently_are_refused(tmp_path: Path) -> None:
    a = _stack_copy(tmp_path, "team-a")
    b = _stack_copy(tmp_path, "team-b", extra="\n        blockSize: 32")
    out = tmp_path / "out"
    with pytest.raises(AiplaneError) as caught:
        render_main([a, b], str(out), "yaml")
    text = "\n".join(d.format() for d in caught.value.diagnostics)
    assert "stack team-a" in text and "stack team-b" in text and "Deployment/" in text
    assert not out.exists()
    with pytest.raises(AiplaneError):
        render_main([a, b], None, "json")


def test_plan_against_the_directory_still_sees_the_node_labels(tmp_path: Path) -> None:
    from aiplane.providers.kubernetes.offline import read_manifest_dir

    out = tmp_path / "out"
    render_main([SEED], str(out), "yaml")
    kinds = [m["kind"] for m in read_manifest_dir(out)]
    assert kinds.count("NodeLabels") == 1 and "Deployment" in kinds
