"""What ``aiplane render`` hands to other appliers: an apply-ready set, and nothing else in it.

* Pseudo-kinds (``NodeLabels``: aiplane labels nodes it does not own) are not Kubernetes
  objects, so they never go in the apply set; they become ``kubectl label`` commands in
  ``node-labels.sh`` (kubectl ignores ``.sh`` files) and, on stdout, a comment on stderr.
* ``-o DIR`` is complete and self-consistent: ``DIR/.aiplane-render`` records every file aiplane
  wrote, so files of objects that are gone are removed, and only those; a directory that is
  not empty and holds no such record is refused (it is someone else's).
* Several stacks go to one subdirectory each. An object several stacks share by design (marked
  ``aiplane.dev/ownership: fields``: the GPU Operator's ClusterPolicy and ConfigMaps) is
  combined: each stack's copy becomes the union of all of them (a shared mig-parted document
  gets every stack's entries), and a field or entry two stacks set differently is refused, naming
  both. Any other object two stacks render with different content is refused too, instead of
  one silently replacing the other.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiplane.errors import AiplaneError, Diagnostic
from aiplane.providers.kubernetes.labels import (
    MERGE_ANN,
    OWNERSHIP_ANN,
    OWNERSHIP_FIELDS,
    RENDER_RECORD,
)
from aiplane.providers.kubernetes.shared_doc import MergeSpec

MANIFEST = RENDER_RECORD
NODE_LABEL_SCRIPT = "node-labels.sh"
PSEUDO_KINDS = frozenset({"NodeLabels"})
Obj = dict[str, Any]


@dataclass
class StackOutput:
    """One stack's rendered objects, split into the apply set and the node labels."""

    name: str
    file: str
    objects: list[Obj] = field(default_factory=list)
    node_labels: list[Obj] = field(default_factory=list)

    @classmethod
    def split(cls, name: str, file: str, rendered: Sequence[Obj]) -> StackOutput:
        out = cls(name, file)
        for obj in rendered:
            (out.node_labels if obj.get("kind") in PSEUDO_KINDS else out.objects).append(obj)
        return out


def identity(obj: Mapping[str, Any]) -> str:
    """``Kind/namespace/name`` (``Kind/name`` when cluster-scoped)."""
    meta = obj.get("metadata") or {}
    parts = [str(obj.get("kind", "")), str(meta.get("namespace") or ""), str(meta.get("name"))]
    return "/".join(p for p in parts if p)


def refuse_conflicts(outputs: Sequence[StackOutput]) -> None:
    """Raise when two stacks share a name or render one object with different content (shared
    objects are combined first: see the module docstring)."""
    problems = _combine_shared(outputs)
    by_name: dict[str, StackOutput] = {}
    for out in outputs:
        other = by_name.setdefault(out.name, out)
        if other is not out:
            problems.append(
                Diagnostic(f"stack {out.name} is also defined by {other.file}", out.file)
            )
    seen: dict[str, tuple[StackOutput, Obj]] = {}
    for out in outputs:
        for obj in [*out.objects, *out.node_labels]:
            first = seen.setdefault(identity(obj), (out, obj))
            if first[0] is not out and _content(first[1]) != _content(obj):
                problems.append(
                    Diagnostic(
                        f"{identity(obj)}: rendered by both stack {first[0].name} "
                        f"({first[0].file}) and stack {out.name} ({out.file}), differently; "
                        "one would overwrite the other",
                        out.file,
                        hint="render and apply them separately, or let one stack own it",
                    )
                )
    if problems:
        raise AiplaneError(f"{len(problems)} conflict(s) between stacks", problems)


def _combine_shared(outputs: Sequence[StackOutput]) -> list[Diagnostic]:
    """Give every stack the union of a shared object's copies; a clash is a diagnostic."""
    copies: dict[str, list[tuple[StackOutput, int]]] = {}
    for out in outputs:
        for index, obj in enumerate(out.objects):
            anns = (obj.get("metadata") or {}).get("annotations") or {}
            if anns.get(OWNERSHIP_ANN) == OWNERSHIP_FIELDS:
                copies.setdefault(identity(obj), []).append((out, index))
    problems: list[Diagnostic] = []
    for ident, where in copies.items():
        if len(where) < 2:
            continue
        first_out, first_index = where[0]
        combined = first_out.objects[first_index]
        for out, index in where[1:]:
            combined, clashes = _union(combined, out.objects[index])
            problems += [
                Diagnostic(
                    f"{ident}: {clash} is set differently by stack {first_out.name} and "
                    f"stack {out.name}",
                    out.file,
                    hint="the GPU Operator's configuration is one per cluster: agree on it",
                )
                for clash in clashes
            ]
        for out, index in where:
            out.objects[index] = combined
    return problems


def _union(a: Obj, b: Obj) -> tuple[Obj, list[str]]:
    """Two stacks' copies of one shared object as one, and the paths that clash."""
    spec = MergeSpec.parse(((a.get("metadata") or {}).get("annotations") or {}).get(MERGE_ANN, ""))
    clashes: list[str] = []
    merged = _deep_union(_content(a), _content(b), "", clashes, skip=spec.key if spec else None)
    if spec is not None:
        entries = dict(spec.document(a, identity(a)).get(spec.entries) or {})
        for name, value in (spec.document(b, identity(b)).get(spec.entries) or {}).items():
            if entries.setdefault(name, value) != value:
                clashes.append(f"{spec.entries} entry {name}")
        doc = {**spec.document(a, identity(a)), spec.entries: entries}
        merged["data"] = {**merged.get("data", {}), spec.key: spec.dump(doc)}
    merged["metadata"] = {**merged["metadata"], "annotations": _annotations(a)}
    return merged, clashes


def _deep_union(a: Any, b: Any, path: str, clashes: list[str], skip: str | None) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for key, value in b.items():
            where = f"{path}.{key}" if path else str(key)
            if key in out and where != f"data.{skip}":
                out[key] = _deep_union(out[key], value, where, clashes, skip)
            else:
                out.setdefault(key, value)
        return out
    if a != b:
        clashes.append(f"field {path}")
    return a


def _annotations(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def _content(obj: Mapping[str, Any]) -> Any:
    # Ownership labels and source links differ per stack by design; compare what the object does.
    meta = dict(obj.get("metadata") or {})
    meta.pop("labels", None)
    meta.pop("annotations", None)
    return {**obj, "metadata": meta}


def as_list(objects: Sequence[Obj]) -> Obj:
    """A Kubernetes ``List`` (what ``kubectl apply -f`` accepts as one JSON document)."""
    return {"apiVersion": "v1", "kind": "List", "items": list(objects)}


def unique_objects(outputs: Sequence[StackOutput]) -> list[Obj]:
    """Every stack's apply set in order, an object two stacks render identically once."""
    seen: set[str] = set()
    out: list[Obj] = []
    for stack in outputs:
        for obj in stack.objects:
            if identity(obj) not in seen:
                seen.add(identity(obj))
                out.append(obj)
    return out


def node_label_script(outputs: Sequence[StackOutput]) -> str:
    """``kubectl label`` commands for every stack's node labels ("" when there are none)."""
    labels = [(out, obj) for out in outputs for obj in out.node_labels]
    if not labels:
        return ""
    lines = [
        "#!/bin/sh",
        "# Node labels the stack needs. Nodes are not aiplane's objects, so these are commands,",
        "# not manifests: `aiplane apply` sets them itself; another applier runs this file.",
        "set -eu",
    ]
    for out, obj in labels:
        meta = obj.get("metadata") or {}
        notes = meta.get("annotations") or {}
        spec = obj.get("spec") or {}
        selector = ",".join(f"{k}={v}" for k, v in (spec.get("nodeSelector") or {}).items())
        pairs = [f"{k}={v}" for k, v in (spec.get("labels") or {}).items()]
        lines.append("")
        lines.append(f"# stack {out.name}: {notes.get('aiplane.dev/subject', meta.get('name'))}")
        if notes.get("aiplane.dev/disruption"):
            lines.append(f"# disruption: {notes['aiplane.dev/disruption']}")
        command = ["kubectl", "label", "nodes", "-l", selector, *pairs, "--overwrite"]
        lines.append(" ".join(shlex.quote(part) for part in command))
    return "\n".join(lines) + "\n"


def object_path(obj: Mapping[str, Any], fmt: str) -> Path:
    """``<namespace or _cluster>/<kind>-<name>.yaml`` (``.json``), kind in lower case."""
    meta = obj.get("metadata") or {}
    folder = meta.get("namespace") or "_cluster"
    suffix = "json" if fmt == "json" else "yaml"
    return Path(folder) / f"{str(obj['kind']).lower()}-{meta['name']}.{suffix}"
