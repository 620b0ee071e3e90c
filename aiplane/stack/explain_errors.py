"""Turn pydantic validation errors into located, human diagnostics with "did you mean" hints."""

from __future__ import annotations

import re
import types
import typing
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from aiplane.errors import Diagnostic, suggest
from aiplane.stack.yamlpos import Path, PositionMap, dotted

_QUOTED = re.compile(r"'([^']*)'")


def _model_at(root: type[BaseModel], path: Path) -> type[BaseModel] | None:
    """The model class that owns the last key of ``path`` (walking lists, dicts and unions)."""
    current: Any = root
    for part in path:
        current = _step(current, part)
        if current is None:
            return None
    models = _models_in(current)
    return models[0] if models else None


def annotation_at(root: type[BaseModel], path: Path) -> Any:
    """The type annotation of the value at ``path`` (``None`` where the schema has no such path)."""
    current: Any = root
    for part in path:
        current = _step(current, part)
        if current is None:
            return None
    return current


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _models_in(arg)]
    if get_origin(annotation) is typing.Annotated:
        return _models_in(get_args(annotation)[0])
    return []


def _step(annotation: Any, part: str | int) -> Any:
    for model in _models_in(annotation):
        for name, info in model.model_fields.items():
            if part in (info.alias, name):
                return info.annotation
    for option in _unwrap(annotation):
        origin = get_origin(option)
        if origin is list and isinstance(part, int):
            return get_args(option)[0]
        if origin is dict and isinstance(part, str):
            return get_args(option)[1]
    return None


def _unwrap(annotation: Any) -> list[Any]:
    if get_origin(annotation) in (Union, types.UnionType):
        return [a for arg in get_args(annotation) for a in _unwrap(arg)]
    if get_origin(annotation) is typing.Annotated:
        return _unwrap(get_args(annotation)[0])
    return [annotation]


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _hint(root: type[BaseModel], error: Any, loc: Path) -> str:
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        owner = _model_at(root, loc[:-1])
        return suggest(str(loc[-1]), _keys_of(owner)) if owner else ""
    if kind in ("literal_error", "enum") and isinstance(value, str):
        return suggest(value, _QUOTED.findall(str(error.get("ctx", {}).get("expected", ""))))
    if kind == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
        return "quote it"
    if kind == "missing":
        return "add it"
    return ""


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    text = str(error["msg"])
    return text.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _clean_loc(raw: tuple[Any, ...], data: Any) -> Path:
    """Keep the parts of a pydantic ``loc`` that really index the document.

    Pydantic mixes union branch tags (``literal['all']``, ``EnvSource``, ``function-before[...]``)
    into ``loc``; walking the parsed data tells real keys from tags, even for dict keys such as
    environment variable names. A trailing unknown key (a missing field) is kept.
    """
    cleaned: list[str | int] = []
    current = data
    for index, part in enumerate(raw):
        if (isinstance(current, dict) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        ):
            current = current[part]
        elif index == len(raw) - 1 and isinstance(current, dict) and isinstance(part, str):
            pass  # a missing field: point at its parent, name the field
        else:
            continue
        cleaned.append(part)
    return tuple(cleaned)


def diagnostics_from(
    exc: ValidationError, root: type[BaseModel], data: Any, positions: PositionMap, file: str
) -> list[Diagnostic]:
    """One diagnostic per distinct (location, message), in file order."""
    seen: set[tuple[Path, str]] = set()
    found: list[Diagnostic] = []
    for error in exc.errors(include_url=False):
        loc = _clean_loc(tuple(error["loc"]), data)
        message = _message(error)
        if (loc, message) in seen:
            continue
        seen.add((loc, message))
        line, col = positions.locate(loc)
        found.append(Diagnostic(message, file, line, col, dotted(loc), _hint(root, error, loc)))
    return sorted(found, key=lambda d: (d.line, d.column, d.path))
