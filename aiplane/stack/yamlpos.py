"""Safe YAML parsing that remembers where every key and value came from.

PyYAML's composer gives us nodes with marks; we build plain Python data from them ourselves so we
can (a) record a ``path -> (line, column)`` map for error messages, (b) reject duplicate keys,
which plain ``safe_load`` silently lets the last one win, and (c) bound alias expansion, so a
"billion laughs" document fails fast instead of eating memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from aiplane.errors import Diagnostic
from aiplane.stack.yaml11 import Reading, implicit_reading

Path = tuple[str | int, ...]
Position = tuple[int, int]

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64


@dataclass
class PositionMap:
    """Where each path of the document starts: its key for mapping entries, else its value."""

    keys: dict[Path, Position] = field(default_factory=dict)
    values: dict[Path, Position] = field(default_factory=dict)
    implicit: dict[Path, tuple[str, Reading]] = field(default_factory=dict)
    """Unquoted scalars YAML did not read as text: what it made of them (see ``yaml11``)."""

    def locate(self, path: Path) -> Position:
        """The closest known position for ``path``: itself, else its nearest ancestor."""
        probe = tuple(path)
        while probe:
            if probe in self.keys:
                return self.keys[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (1, 1))


class YamlProblem(Exception):
    """The document cannot be turned into data; carries a located diagnostic."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.format())
        self.diagnostic = diagnostic


def _pos(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.positions = PositionMap()
        self.count = 0
        self.scalars = yaml.SafeLoader("")

    def fail(self, node: yaml.Node, message: str, path: Path, hint: str = "") -> YamlProblem:
        line, col = _pos(node)
        return YamlProblem(Diagnostic(message, self.file, line, col, dotted(path), hint))

    def build(self, node: yaml.Node, path: Path, active: frozenset[int]) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(
                node,
                f"document expands to more than {MAX_NODES} nodes",
                path,
                "aliases that expand exponentially are refused",
            )
        if len(path) > MAX_DEPTH or id(node) in active:
            raise self.fail(node, "document nests too deeply or refers to itself", path)
        self.positions.values.setdefault(path, _pos(node))
        if isinstance(node, yaml.MappingNode):
            return self.build_mapping(node, path, active | {id(node)})
        if isinstance(node, yaml.SequenceNode):
            inner = active | {id(node)}
            return [self.build(item, (*path, i), inner) for i, item in enumerate(node.value)]
        reading = implicit_reading(node) if isinstance(node, yaml.ScalarNode) else None
        if reading is not None:
            self.positions.implicit[path] = reading
        try:
            return self.scalars.construct_object(node)
        except (ValueError, OverflowError):  # e.g. 2000-00-00: a timestamp by its form only
            what = reading[0] if reading else "a typed value"
            raise self.fail(
                node,
                f"YAML reads this unquoted value as {what}, but it is not one",
                path,
                "quote it",
            ) from None

    def build_mapping(self, node: yaml.MappingNode, path: Path, active: frozenset[int]) -> Any:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise self.fail(
                    key_node,
                    "merge keys (<<) are not supported",
                    path,
                    "write the keys out; anchors and aliases of whole values work",
                )
            key = (
                self.scalars.construct_object(key_node)
                if isinstance(key_node, yaml.ScalarNode)
                else None
            )
            if not isinstance(key, str):
                raise self.fail(
                    key_node,
                    f"keys must be strings, not {type(key).__name__}",
                    path,
                    "quote the key",
                )
            child = (*path, key)
            if key in result:
                first = self.positions.keys[child]
                raise self.fail(
                    key_node, f"duplicate key '{key}'", child, f"first defined at line {first[0]}"
                )
            self.positions.keys[child] = _pos(key_node)
            result[key] = self.build(value_node, child, active)
        return result


def dotted(path: Path) -> str:
    """``("spec", "models", 0, "name")`` -> ``spec.models[0].name``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _decode(raw: bytes, file: str) -> str:
    if len(raw) > MAX_FILE_BYTES:
        raise YamlProblem(
            Diagnostic(
                f"file is {len(raw)} bytes, over the {MAX_FILE_BYTES}-byte limit",
                file,
                hint="split the stack or remove generated content",
            )
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlProblem(
            Diagnostic(
                f"not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded",
                file,
                line,
                col,
                hint="save the file as UTF-8",
            )
        ) from None
    return text.removeprefix("\ufeff")


def _reject_tabs(text: str, file: str) -> None:
    # YAML forbids tabs in indentation, but PyYAML's message for it is cryptic; say it plainly.
    for number, line in enumerate(text.splitlines(), start=1):
        indent = len(line) - len(line.lstrip(" \t"))
        if "\t" in line[:indent]:
            col = line.index("\t") + 1
            raise YamlProblem(
                Diagnostic(
                    "tab character in indentation", file, number, col, hint="indent with spaces"
                )
            )


def parse_yaml(raw: bytes, file: str) -> tuple[Any, PositionMap]:
    """Parse one YAML document into plain data and a position map, or raise ``YamlProblem``."""
    text = _decode(raw, file)
    _reject_tabs(text, file)
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlProblem(Diagnostic(f"YAML syntax error: {problem}", file, line, col)) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(Diagnostic(f"YAML error: {exc}", file)) from None
    documents = [n for n in nodes if n is not None]
    if not documents:
        raise YamlProblem(
            Diagnostic(
                "the file is empty",
                file,
                1,
                1,
                hint="start with 'apiVersion: aiplane.dev/v1alpha1'",
            )
        )
    if len(documents) > 1:
        line, col = _pos(documents[1])
        raise YamlProblem(
            Diagnostic(
                "expected one YAML document, found several",
                file,
                line,
                col,
                hint="keep one stack per file",
            )
        )
    builder = _Builder(file)
    try:
        data = builder.build(documents[0], (), frozenset())
    except yaml.YAMLError as exc:
        raise YamlProblem(Diagnostic(f"YAML error: {exc}", file)) from None
    except RecursionError:
        raise YamlProblem(Diagnostic("document nests too deeply", file)) from None
    if not isinstance(data, dict):
        line, col = _pos(documents[0])
        raise YamlProblem(
            Diagnostic(
                f"the document is a {type(data).__name__}, not a mapping",
                file,
                line,
                col,
                hint="a stack file starts with 'apiVersion:'",
            )
        )
    return data, builder.positions
