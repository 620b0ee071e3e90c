#!/usr/bin/env python3
"""Generate ``aiplane/data/vllm_args.json``: the ``vllm serve`` flags of real vLLM releases.

Run on demand (not in CI; it downloads source archives from PyPI)::

    python scripts/gen_vllm_args.py                # the default release list
    python scripts/gen_vllm_args.py 0.17.1 0.18.0  # or your own list

How: for each release it fetches the sdist (PyPI JSON API → ``vllm-X.tar.gz``, cached under
``~/.cache/aiplane/vllm-src``), reads only the few files that define the CLI, and extracts the
flags statically with ``ast``, so neither vLLM nor torch is installed or imported:

* ``vllm/engine/arg_utils.py``: every ``add_argument("--flag", "-alias", **kw["field"])`` call;
  the field's type comes from the ``EngineArgs`` dataclass annotation of the same name, or from
  the call's own ``type=``/``action=``;
* ``vllm/entrypoints/openai/cli_args.py``: explicit ``add_argument`` calls, and in releases where
  the frontend flags are generated from a dataclass (``FrontendArgs``), one flag per field.

Bool flags are marked ``negatable`` when that release builds them with
``argparse.BooleanOptionalAction`` (so ``--no-<flag>`` exists too).

A flag that disappears while its dataclass field reappears under another flag in a later release
is recorded as a rename (old → new), which the checker uses to translate.
"""

from __future__ import annotations

import ast
import io
import json
import re
import sys
import tarfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

DEFAULT_RELEASES = [
    "0.10.2",
    "0.11.0",
    "0.13.0",
    "0.14.1",
    "0.16.0",
    "0.17.0",
    "0.17.1",
    "0.18.0",
    "0.19.1",
    "0.22.1",
    "0.26.0",
    "0.30.0",
    "0.33.0",
]
# The frontend flags moved: openai/cli_args.py (to ~0.26), launchers/ (~0.30), common/ (0.33).
FILES = (
    "vllm/engine/arg_utils.py",
    "vllm/entrypoints/openai/cli_args.py",
    "vllm/entrypoints/launchers/cli_args.py",
    "vllm/entrypoints/common/cli_args.py",
    "vllm/entrypoints/cli/serve.py",
)
CACHE = Path.home() / ".cache" / "aiplane" / "vllm-src"
OUT = Path(__file__).resolve().parent.parent / "aiplane" / "data" / "vllm_args.json"
JSON_API = "https://pypi.org/pypi/vllm/{version}/json"
ALL_JSON = "https://pypi.org/pypi/vllm/json"


# Renames the AST cannot see (the dataclass field was renamed too). Each was read in vLLM's source:
# 0.11.0 arg_utils.py marks --override-pooler-config deprecated; 0.13.0 has --pooler-config for
# the same ModelConfig setting.
KNOWN_RENAMES = {"--override-pooler-config": "--pooler-config"}


def version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v))


def _sdist_url(version: str) -> str:
    """The sdist of one release (some releases, e.g. 0.15.x, ship wheels only)."""
    for api in (JSON_API.format(version=version), ALL_JSON):
        try:
            with urllib.request.urlopen(api, timeout=60) as resp:
                data = json.load(resp)
        except OSError:
            continue
        files = (
            data["urls"] if "releases" not in data or api != ALL_JSON else data["releases"][version]
        )
        for f in files:
            if f["packagetype"] == "sdist":
                return urllib.parse.urljoin(api, str(f["url"]))
    raise SystemExit(f"no sdist found for vllm {version}")


def source_files(version: str) -> dict[str, str]:
    """The CLI-defining files of one release, from the cache or the sdist."""
    folder = CACHE / version
    if not folder.exists():
        url = _sdist_url(version)
        print(f"downloading {url}", file=sys.stderr)
        with urllib.request.urlopen(url, timeout=600) as resp:
            blob = resp.read()
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            for member in tar.getmembers():
                rel = member.name.split("/", 1)[-1]
                if rel in FILES and member.isfile():
                    data = tar.extractfile(member)
                    assert data is not None
                    target = folder / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data.read())
        folder.mkdir(parents=True, exist_ok=True)
    return {rel: (folder / rel).read_text() for rel in FILES if (folder / rel).exists()}


def _type_of_annotation(text: str) -> str:
    if re.search(r"\bbool\b", text):
        return "bool"
    if re.search(r"\bfloat\b", text):
        return "float"
    if re.search(r"\bint\b", text):
        return "int"
    if re.search(r"\b(list|tuple|set)\b", text, re.IGNORECASE):
        return "list"
    if re.search(r"\b(dict|Config)\b", text):
        return "json"
    return "str"


def _class_fields(tree: ast.Module, names: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name in names:
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    out[item.target.id] = _type_of_annotation(ast.unparse(item.annotation))
    return out


def _call_type(call: ast.Call, field_types: dict[str, str], field: str | None) -> str:
    for kw in call.keywords:
        if kw.arg == "action":
            text = ast.unparse(kw.value)
            if "BooleanOptionalAction" in text or "store_true" in text or "store_false" in text:
                return "bool"
        if kw.arg == "type":
            text = ast.unparse(kw.value)
            if text in ("int", "float", "str"):
                return text
        if kw.arg == "nargs":
            return "list"
    bare = field.rsplit(".", 1)[-1] if field else None
    if bare and bare in field_types:
        return field_types[bare]
    return "str"


def _subscript_field(node: ast.expr) -> str | None:
    """``cache_kwargs["swap_space"]`` → ``cache_kwargs.swap_space`` (qualified: config classes
    share field names such as ``backend``)."""
    if isinstance(node, ast.Subscript):
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return f"{ast.unparse(node.value)}.{key.value}"
    if isinstance(node, ast.Dict):  # **{**kw["field"], "default": None}
        for k, v in zip(node.keys, node.values, strict=True):
            found = _subscript_field(v) if k is None else None
            if found:
                return found
    return None


def _field_of(call: ast.Call) -> str | None:
    for kw in call.keywords:
        if kw.arg is None:
            found = _subscript_field(kw.value)
            if found:
                return found
    return None


def _negatable(call: ast.Call, field_type: str, bool_optional_default: bool) -> bool:
    for kw in call.keywords:
        if kw.arg == "action":
            return "BooleanOptionalAction" in ast.unparse(kw.value)
    return field_type == "bool" and bool_optional_default and _field_of(call) is not None


def flags_of_release(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    """flag → {type, aliases, field, negatable} for one release."""
    flags: dict[str, dict[str, Any]] = {}
    engine_src = files.get("vllm/engine/arg_utils.py", "")
    bool_optional = "BooleanOptionalAction" in engine_src
    engine_fields: dict[str, str] = {}
    if engine_src:
        engine_fields = _class_fields(ast.parse(engine_src), ("EngineArgs", "AsyncEngineArgs"))
    for _rel, src in sorted(files.items()):
        tree = ast.parse(src)
        frontend = _class_fields(tree, ("FrontendArgs", "BaseFrontendArgs"))
        types = {**engine_fields, **frontend}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr != "add_argument":
                continue
            names = [
                a.value
                for a in node.args
                if isinstance(a, ast.Constant)
                and isinstance(a.value, str)
                and a.value.startswith("-")
            ]
            longs = [n for n in names if n.startswith("--")]
            if not longs:
                continue
            field = _field_of(node)
            kind = _call_type(node, types, field)
            flags[longs[0]] = {
                "type": kind,
                "aliases": sorted(n for n in names if n != longs[0]),
                "field": field or longs[0][2:].replace("-", "_"),
                "negatable": _negatable(node, kind, bool_optional),
                "deprecated": any(
                    kw.arg == "deprecated" and ast.unparse(kw.value) == "True"
                    for kw in node.keywords
                ),
            }
        if "f\"--{key.replace('_', '-')}\"" in src and frontend:
            # Frontend flags generated from the dataclass fields, one per field.
            for field, kind in frontend.items():
                flag = "--" + field.replace("_", "-")
                flags.setdefault(
                    flag,
                    {
                        "type": kind,
                        "aliases": [],
                        "field": field,
                        "negatable": kind == "bool" and bool_optional,
                        "deprecated": False,
                    },
                )
    return flags


def build_table(releases: list[str]) -> dict[str, Any]:
    releases = sorted(releases, key=version_key)
    per_release = {r: flags_of_release(source_files(r)) for r in releases}
    table: dict[str, dict[str, Any]] = {}
    for release in releases:
        for flag, info in per_release[release].items():
            entry = table.setdefault(flag, {"type": info["type"], "first": release, "aliases": []})
            entry["last"] = release
            entry["type"] = info["type"]
            entry["negatable"] = info["negatable"]
            entry["aliases"] = sorted(set(entry["aliases"]) | set(info["aliases"]))
            entry.setdefault("releases", []).append(release)
            if info["deprecated"] and "deprecatedSince" not in entry:
                entry["deprecatedSince"] = release
    renames: dict[str, str] = {}
    for flag, entry in table.items():
        if entry["last"] == releases[-1]:
            continue
        field = per_release[entry["last"]][flag]["field"]
        later = [r for r in releases if version_key(r) > version_key(entry["last"])]
        for release in later:
            match = [
                f for f, i in per_release[release].items() if i["field"] == field and f != flag
            ]
            if match:
                renames[flag] = sorted(match)[0]
                break
    for old, new in KNOWN_RENAMES.items():
        if old in table and new in table:
            renames.setdefault(old, new)
    for entry in table.values():
        # Sampled releases: a flag present at both ends of the range is assumed present between.
        entry.pop("releases")
    return {
        "generatedBy": "scripts/gen_vllm_args.py",
        "releases": releases,
        "args": dict(sorted(table.items())),
        "renames": dict(sorted(renames.items())),
    }


def main(argv: list[str]) -> int:
    releases = argv or DEFAULT_RELEASES
    table = build_table(releases)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT} ({len(table['args'])} flags, {len(releases)} releases)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
