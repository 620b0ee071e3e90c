"""Read the ``aiplane.dev/weights`` annotation render puts on weighted routes, so the plan
summary tells weight changes in stack terms (``v3.0 95 -> 80 %``)."""

from __future__ import annotations

from typing import Any


def parse_weights(text: Any) -> dict[str, str]:
    """``"a=90,b=10"`` -> ``{"a": "90", "b": "10"}`` (anything else -> {})."""
    if not isinstance(text, str):
        return {}
    pairs = (part.rpartition("=") for part in text.split(",") if "=" in part)
    return {term: value for term, _, value in pairs}


def weight_briefs(before: Any, after: Any) -> list[str]:
    """``v3.0 95 -> 80 %`` per stack term whose share changed, new and gone ones too."""
    old, new = parse_weights(before), parse_weights(after)
    out = []
    for term in dict.fromkeys([*old, *new]):
        if term not in new:
            out.append(f"{term} {old[term]} % -> removed")
        elif term not in old:
            out.append(f"{term} new at {new[term]} %")
        elif old[term] != new[term]:
            out.append(f"{term} {old[term]} -> {new[term]} %")
    return out
