"""What YAML 1.1 made of an unquoted scalar, in words, when it is not plain text.

PyYAML (and Kubernetes' own YAML reader) follow YAML 1.1, whose implicit typing turns unquoted
``NO`` into false, ``0755`` into 493 and ``12:30:00`` into 45000; YAML 1.2 tools read some of the
same text differently again (``1e3`` is text to PyYAML, a number to most others). The loader
records every such scalar so that string-typed fields can refuse them ("quote it") instead of
silently storing a value the author never wrote.
"""

from __future__ import annotations

import re
from typing import Final, Literal

import yaml

Reading = Literal["plain", "yaml11"]
"""``plain``: any YAML reads it the same non-text way (``true``, ``42``, ``0.5``, ``null``);
``yaml11``: only YAML 1.1 reads it so, or YAML readers disagree about it."""

_BOOL_1_2: Final = re.compile(r"^(true|True|TRUE|false|False|FALSE)$")
_INT_1_2: Final = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_FLOAT_1_2: Final = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
# Plain text to PyYAML but a number or boolean to YAML 1.2 readers (Go's yaml.v3, ruamel).
_NUMBER_ELSEWHERE: Final = re.compile(
    r"^([-+]?[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+|[-+]?[0-9]+|0o[0-7]+|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$"
)

TEXT_HERE_NUMBER_ELSEWHERE: Final = "a number (in YAML 1.2)"
TEXT_HERE_BOOLEAN_ELSEWHERE: Final = "a boolean (in the YAML 1.1 spec)"
TEXT_KEPT: Final = frozenset({TEXT_HERE_NUMBER_ELSEWHERE, TEXT_HERE_BOOLEAN_ELSEWHERE})
"""Readings where PyYAML kept the text as written but other YAML readers would not."""


def implicit_reading(node: yaml.ScalarNode) -> tuple[str, Reading] | None:
    """``(what YAML made of it, how portable that reading is)`` for an unquoted scalar that is
    not plain text; ``None`` for quoted scalars and ordinary text."""
    if node.style is not None:
        return None
    text = str(node.value)
    tag = node.tag.rsplit(":", 1)[-1]
    if tag == "str":
        if text in ("y", "Y", "n", "N"):
            return TEXT_HERE_BOOLEAN_ELSEWHERE, "yaml11"
        return (TEXT_HERE_NUMBER_ELSEWHERE, "yaml11") if _NUMBER_ELSEWHERE.match(text) else None
    if tag == "null":
        return "null", "plain"
    if tag == "bool":
        return "a boolean", "plain" if _BOOL_1_2.match(text) else "yaml11"
    if tag == "int":
        return _integer_kind(text)
    if tag == "float":
        if text.lower().lstrip("+-") in (".nan", ".inf"):
            return "not-a-number or infinity", "yaml11"
        return "a number", "plain" if _FLOAT_1_2.match(text) else "yaml11"
    if tag == "timestamp":
        return "a date", "yaml11"
    return f"a {tag}", "yaml11"


def _integer_kind(text: str) -> tuple[str, Reading]:
    if _INT_1_2.match(text):
        return "an integer", "plain"
    body = text.lstrip("+-")
    if ":" in body:
        return "a base-60 number", "yaml11"
    if body.startswith(("0x", "0b")):
        return "a hexadecimal or binary number", "yaml11"
    if "_" in body:
        return "an integer (underscores dropped)", "yaml11"
    return "an octal number", "yaml11"
