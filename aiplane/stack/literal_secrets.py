"""Refuse credentials written into the stack anywhere: token-shaped literals (``hf_``, ``sk-``,
``ghp_``, ``AKIA``...) and user:password inside URLs, in every string of the document.

Runs on the parsed document rather than per field, so sections added later are covered too.
The diagnostic names the kind of credential and its place, never the value.
"""

from __future__ import annotations

from typing import Any

from aiplane.errors import Diagnostic, credential_in
from aiplane.stack.yamlpos import Path, PositionMap, dotted


def literal_secret_problems(data: Any, positions: PositionMap, file: str) -> list[Diagnostic]:
    """One diagnostic per string value of ``data`` that carries a credential."""
    found: list[Diagnostic] = []
    for path, text in _strings(data, ()):
        what = credential_in(text)
        if what is None:
            continue
        line, col = positions.values.get(path, positions.locate(path))
        if what == "credentials in a URL":
            message, hint = (
                "URL carries credentials (user:password@)",
                "take them out of the URL and keep them in a Secret",
            )
        else:
            message, hint = (
                f"looks like a credential ({what}); credentials never go in the stack",
                "keep it in a Secret and refer to it with secretRef or apiKeySecret",
            )
        found.append(Diagnostic(message, file, line, col, dotted(path), hint))
    return found


def _strings(value: Any, path: Path) -> list[tuple[Path, str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [item for key, child in value.items() for item in _strings(child, (*path, key))]
    if isinstance(value, list):
        return [
            item for index, child in enumerate(value) for item in _strings(child, (*path, index))
        ]
    return []
