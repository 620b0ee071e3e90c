"""Refuse unquoted scalars whose YAML reading is not what a string field's author wrote.

Works from the schema, not per field: every path where the loader saw an unquoted non-text scalar
(``PositionMap.implicit``) is looked up in the pydantic models, and the scalar types the field
accepts decide. A field that takes only text refuses any non-text reading (``NO``, ``0755``,
``12:30:00``, ``.nan``, ``1e3``), and null where the field cannot be unset; a field that takes
text or numbers refuses the readings YAML versions disagree on; a number field refuses octal,
base-60 and the like, which YAML 1.2 reads differently. Messages never repeat the value.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from aiplane.errors import Diagnostic
from aiplane.stack.explain_errors import annotation_at
from aiplane.stack.sections.base import ShorthandModel
from aiplane.stack.yaml11 import TEXT_KEPT, Reading
from aiplane.stack.yamlpos import PositionMap, dotted

_NAMES: dict[Any, str] = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    type(None): "none",
}
_NUMERIC_ONLY_1_1 = ("an octal number", "a base-60 number", "a hexadecimal or binary number")


def scalar_kinds(annotation: Any) -> set[str]:
    """Which scalar types (str, int, float, bool, none) a field annotation accepts."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return scalar_kinds(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return {kind for arg in get_args(annotation) for kind in scalar_kinds(arg)}
    if origin is Literal:
        return {_NAMES.get(type(value), "str") for value in get_args(annotation)}
    if annotation is Any:
        return set(_NAMES.values())
    if isinstance(annotation, type) and issubclass(annotation, ShorthandModel):
        return {"str"}
    if annotation in _NAMES:
        return {_NAMES[annotation]}
    return set()


def _problem(kind: str, reading: Reading, accepts: set[str]) -> tuple[str, str] | None:
    """``(message, hint)`` when a scalar read as ``kind`` must be refused in such a field."""
    if "str" in accepts:
        if kind == "null" and "none" in accepts:
            return None
        takes_numbers = bool(accepts & {"int", "float", "bool"})
        if takes_numbers and kind in TEXT_KEPT:
            return None  # kept as the text written, which is what a number field renders anyway
        if reading == "yaml11" or not takes_numbers:
            return f"YAML reads this unquoted value as {kind}, not as the text written", "quote it"
        return None
    if accepts & {"int", "float"} and "bool" not in accepts and kind == "a boolean":
        # pydantic would take true/yes/on as 1 and false/no/off as 0
        return "YAML reads this unquoted value as a boolean, not a number", "write a number"
    if accepts & {"int", "float"} and kind in _NUMERIC_ONLY_1_1:
        return (
            f"YAML 1.1 reads this unquoted value as {kind}; other YAML readers disagree",
            "write the number in plain decimal",
        )
    return None


def implicit_scalar_problems(
    root: type[BaseModel], positions: PositionMap, file: str
) -> list[Diagnostic]:
    """One diagnostic per unquoted scalar whose reading the field it sits in must refuse."""
    found: list[Diagnostic] = []
    for path, (kind, reading) in positions.implicit.items():
        annotation = annotation_at(root, path)
        if annotation is None:
            continue
        problem = _problem(kind, reading, scalar_kinds(annotation))
        if problem is not None:
            line, col = positions.values.get(path, positions.locate(path))
            found.append(Diagnostic(problem[0], file, line, col, dotted(path), problem[1]))
    return found


def merge_diagnostics(
    implicit: Iterable[Diagnostic], schema: Iterable[Diagnostic]
) -> list[Diagnostic]:
    """Both lists in file order; a schema error at a refused scalar is left out, since
    "Input should be a valid string" says less than "quote it" about the same value."""
    first = list(implicit)
    taken = {(d.line, d.column) for d in first}
    prefixes = tuple(d.path for d in first)
    rest = [
        d
        for d in schema
        if (d.line, d.column) not in taken
        and not any(d.path == p or d.path.startswith((p + ".", p + "[")) for p in prefixes)
    ]
    return sorted([*first, *rest], key=lambda d: (d.line, d.column, d.path))
