"""``aiplane render FILE... [-o DIR] [--format yaml|json]``.

Without ``-o`` the apply set of all stacks goes to stdout: one multi-document YAML stream, or
with ``--format json`` one Kubernetes ``List``; node labels (not Kubernetes objects) go to
stderr as ``kubectl label`` commands. With ``-o DIR`` each object is written to its own file,
``DIR/<namespace or _cluster>/<kind>-<name>.yaml`` (``.json``; kind in lower case; with several
stacks under ``DIR/<stack>/``), node labels to ``node-labels.sh``, and files of objects that are
gone are removed (see ``write_dir``). Two stacks that render one object differently are refused.
Registry references render as ``aiplane.lock`` (beside the stack) pins them; render never
contacts a registry. Warnings go to stderr as ``FILE:LINE:COL: warning: path: message``; an
invalid stack raises ``StackError``, which the CLI prints (exit 1), and nothing is written.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from aiplane.check import load_and_check
from aiplane.registry.commands import resolve_for_render
from aiplane.render import render_with_warnings
from aiplane.render.output_dir import (
    StackOutput,
    as_list,
    node_label_script,
    refuse_conflicts,
    unique_objects,
)


class _Dumper(yaml.SafeDumper):
    """Block-style YAML; multi-line strings (embedded configs, scripts) as literal blocks."""


# Plain scalars that YAML 1.2 (Go's yaml, so kubectl, Argo CD and Flux) reads as numbers or
# booleans, but PyYAML's YAML 1.1 resolver takes for strings and would leave unquoted: "2e-5"
# would reach the cluster as the float 2e-05.
_YAML12_NOT_STRING = re.compile(
    r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)|true|True|TRUE|false|False|FALSE|null|Null|NULL|~"
)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else "'" if _YAML12_NOT_STRING.fullmatch(value) else None
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


def render_main(files: list[str], out_dir: str | None, fmt: str) -> int:
    outputs: list[StackOutput] = []
    for file in files:
        loaded = load_and_check(file)
        resolution = resolve_for_render(loaded)  # aiplane.lock only: render never reads a registry
        rendered, warnings = render_with_warnings(loaded, resolved=resolution.for_render())
        for warning in [*loaded.warnings, *warnings]:
            if warning.severity == "warning":
                print(warning.format(), file=sys.stderr)
        outputs.append(StackOutput.split(loaded.stack.metadata.name, file, rendered))
    refuse_conflicts(outputs)
    if out_dir is None:
        objects = unique_objects(outputs)
        sys.stdout.write(to_json(as_list(objects)) if fmt == "json" else to_yaml(objects))
        script = node_label_script(outputs)
        if script:
            print(script.rstrip(), file=sys.stderr)
        return 0
    from aiplane.render.write_dir import write_dir

    root = Path(out_dir)
    count = write_dir(
        root, outputs, fmt, lambda obj: to_json(obj) if fmt == "json" else to_yaml([obj])
    )
    print(f"wrote {count} object(s) to {root}", file=sys.stderr)
    return 0
