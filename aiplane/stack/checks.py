"""Cross-reference checks: pure functions from a loaded stack to located diagnostics.

Schema validation (pydantic) sees one object at a time; these checks see the whole stack: names
that must exist, weights that must add up, DAGs that must be acyclic. GPU feasibility and engine
flags are checked above the stack (``aiplane.check`` composes all of them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aiplane.errors import Diagnostic, suggest
from aiplane.stack.loader import LoadedStack
from aiplane.stack.yamlpos import Path

Check = Callable[[LoadedStack], list[Diagnostic]]


def check_unique(
    loaded: LoadedStack, items: Sequence[Any], path: Path, what: str, key: str = "name"
) -> list[Diagnostic]:
    """Report every item whose ``key`` repeats an earlier one, pointing at both."""
    found: list[Diagnostic] = []
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        name = getattr(item, key)
        if name in first:
            line = loaded.locate((*path, first[name], key))[0]
            found.append(
                loaded.diagnostic(
                    (*path, index, key),
                    f"duplicate {what} name",
                    f"first defined at line {line}",
                )
            )
        else:
            first[name] = index
    return found


def check_reference(
    loaded: LoadedStack, name: str | None, known: Iterable[str], path: Path, what: str
) -> list[Diagnostic]:
    """``name`` must be one of ``known``; otherwise say so, with a "did you mean"."""
    if name is None:
        return []
    options = list(known)
    if name in options:
        return []
    hint = suggest(name, options) or (
        f"defined: {', '.join(sorted(options))}" if options else f"no {what} is defined"
    )
    noun, _, owner = what.partition(" of ")
    owner_text = f" of {owner}" if owner else ""
    return [loaded.diagnostic(path, f"unknown {noun}{owner_text}", hint)]


def check_names(loaded: LoadedStack) -> list[Diagnostic]:
    spec = loaded.stack.spec
    found = check_unique(
        loaded, spec.priorities.classes, ("spec", "priorities", "classes"), "priority class"
    )
    for attr, key, what in (
        ("gpu_pools", "gpuPools", "pool"),
        ("models", "models", "model"),
        ("pipelines", "pipelines", "pipeline"),
        ("routes", "routes", "route"),
        ("vector_collections", "vectorCollections", "collection"),
    ):
        found += check_unique(loaded, getattr(spec, attr), ("spec", key), what)
    defaults = [c for c in spec.priorities.classes if c.global_default]
    if len(defaults) > 1:
        index = spec.priorities.classes.index(defaults[1])
        found.append(
            loaded.diagnostic(
                ("spec", "priorities", "classes", index, "globalDefault"),
                "only one priority class may be the global default",
            )
        )
    return found
