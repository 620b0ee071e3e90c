"""``aiplane render FILE... [-o DIR] [--format yaml|json]``.

Without ``-o`` the objects of all stacks go to stdout: one multi-document YAML stream, or one JSON
list with ``--format json``. With ``-o DIR`` each object is written to its own file,
``DIR/<namespace or _cluster>/<kind>-<name>.yaml`` (``.json`` with ``--format json``; kind in
lower case), so a GitOps repository diffs per object; files of objects that no longer exist are
not deleted (the directory may hold other things). Warnings about what a target cannot express
go to stderr as ``FILE:LINE:COL: warning: path: message``. Registry references render as
``aiplane.lock`` (beside the stack) pins them; render never contacts a registry. An invalid stack raises
``StackError``, which the CLI prints (exit 1).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from aiplane.check import load_and_check
from aiplane.registry.commands import resolve_for_render
from aiplane.render import render_with_warnings


class _Dumper(yaml.SafeDumper):
    """Block-style YAML; multi-line strings (embedded configs, scripts) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(objects: list[dict[str, Any]]) -> str:
    return yaml.dump_all(
        objects,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=4096,  # no folding: long annotations stay on one line
    )


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def object_path(obj: dict[str, Any], fmt: str) -> Path:
    meta = obj.get("metadata", {})
    folder = meta.get("namespace") or "_cluster"
    suffix = "json" if fmt == "json" else "yaml"
    return Path(folder) / f"{obj['kind'].lower()}-{meta['name']}.{suffix}"


def render_main(files: list[str], out_dir: str | None, fmt: str) -> int:
    objects: list[dict[str, Any]] = []
    for file in files:
        loaded = load_and_check(file)
        resolution = resolve_for_render(loaded)  # aiplane.lock only: render never reads a registry
        rendered, warnings = render_with_warnings(loaded, resolved=resolution.for_render())
        for warning in [*loaded.warnings, *warnings]:
            if warning.severity == "warning":
                print(warning.format(), file=sys.stderr)
        objects.extend(rendered)
    if out_dir is None:
        sys.stdout.write(to_json(objects) if fmt == "json" else to_yaml(objects))
        return 0
    root = Path(out_dir)
    for obj in objects:
        target = root / object_path(obj, fmt)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(to_json(obj) if fmt == "json" else to_yaml([obj]))
    print(f"wrote {len(objects)} object(s) to {root}", file=sys.stderr)
    return 0
