"""Durations as kubectl and helm write them: ``90s``, ``10m``, ``1h30m``, ``500ms``, ``0``."""

from __future__ import annotations

import re

from aiplane.errors import AiplaneError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str, option: str) -> float:
    """Seconds in ``text``; a bare number means seconds. ``option`` names the flag in errors."""
    value = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    parts = _PART.findall(value)
    if not value or "".join(n + u for n, u in parts) != value:
        raise AiplaneError(f"{option} {text!r}: not a duration (use e.g. 90s, 10m, 1h30m)")
    return sum(float(n) * _UNITS[u] for n, u in parts)
