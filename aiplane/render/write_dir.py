"""``aiplane render -o DIR``: write the apply set as one file per object, keep DIR exact.

``DIR/.aiplane-render`` (JSON; kubectl skips it, it has no manifest suffix) lists the stacks and
every file written, plus each folder's node labels (``plan --against DIR`` reads them back).
A rerun removes the files of objects that are gone, and only files that record names. DIR must
be empty, absent, or hold such a record: aiplane never deletes or overwrites another tool's files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from aiplane.errors import AiplaneError
from aiplane.render.output_dir import (
    MANIFEST,
    NODE_LABEL_SCRIPT,
    Obj,
    StackOutput,
    node_label_script,
    object_path,
)

MANIFEST_VERSION = 1
Dump = Callable[[Obj], str]


def write_dir(root: Path, outputs: Sequence[StackOutput], fmt: str, dump: Dump) -> int:
    """Write every stack into ``root`` (one folder per stack when there are several); return the
    number of objects written."""
    previous = _previous_files(root)
    files: dict[str, str] = {}
    labels: dict[str, list[Obj]] = {}
    for out in outputs:
        folder = Path(out.name) if len(outputs) > 1 else Path()
        for obj in out.objects:
            files[(folder / object_path(obj, fmt)).as_posix()] = dump(obj)
        script = node_label_script([out])
        if script:
            files[(folder / NODE_LABEL_SCRIPT).as_posix()] = script
            labels[folder.as_posix()] = out.node_labels
    stacks = [{"name": o.name, "file": o.file} for o in outputs]
    root.mkdir(parents=True, exist_ok=True)
    # Record the union first: if this run stops half-way, the next one still knows every file.
    _write_manifest(root, stacks, sorted({*previous, *files}), labels)
    for relative, text in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_text() != text:
            target.write_text(text)
        if relative.endswith(NODE_LABEL_SCRIPT):
            target.chmod(0o755)
    for relative in sorted(set(previous) - set(files)):
        _remove(root, relative)
    _write_manifest(root, stacks, sorted(files), labels)
    return sum(len(o.objects) for o in outputs)


def _previous_files(root: Path) -> list[str]:
    if not root.exists():
        return []
    if not root.is_dir():
        raise AiplaneError(f"{root}: exists and is not a directory")
    record = root / MANIFEST
    if not record.is_file():
        if any(root.iterdir()):
            raise AiplaneError(
                f"{root}: not empty and not written by aiplane render (no {MANIFEST}); "
                "refusing to mix with or delete files another tool owns (use an empty directory)"
            )
        return []
    try:
        doc = json.loads(record.read_text())
        files = doc["files"]
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise TypeError("files is not a list of paths")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AiplaneError(f"{record}: cannot read the render record: {exc}") from None
    return files


def _remove(root: Path, relative: str) -> None:
    """Delete one recorded file (never outside ``root``) and the folders it leaves empty."""
    base = root.resolve()
    target = (root / relative).resolve()
    if base not in target.parents or not target.is_file() or (root / relative).is_symlink():
        return
    target.unlink()
    parent = target.parent
    while parent != base and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def _write_manifest(
    root: Path, stacks: list[dict[str, str]], files: list[str], labels: Mapping[str, Any]
) -> None:
    doc = {
        "version": MANIFEST_VERSION,
        "writtenBy": "aiplane render",
        "stacks": stacks,
        "files": files,
        "nodeLabels": labels,
    }
    (root / MANIFEST).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
