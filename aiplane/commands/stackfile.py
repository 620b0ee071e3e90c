"""Read a stack file (or a pre-rendered manifest bundle) into what plan and apply work on.

The stack is loaded, checked, its GPU placement solved once and passed to render and to the
capacity summary. A pre-rendered bundle (``kind: List`` whose ``metadata.name`` is the stack
name, as benchmarks and external renderers produce) is taken as is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiplane.errors import AiplaneError

if TYPE_CHECKING:
    from aiplane.gpu.capacity import Capacity
    from aiplane.providers.base import Resource
    from aiplane.registry.commands import RegistryMode
    from aiplane.registry.resolve import Resolution
    from aiplane.stack.loader import LoadedStack

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    """One stack file, rendered: its name, manifests, loaded stack (None for a bundle) and GPU
    capacity (None for bundles and pool-less stacks)."""

    stack: str
    manifests: list[Manifest]
    resources: list[Resource]
    loaded: LoadedStack | None = None
    capacity: Capacity | None = None
    resolution: Resolution | None = None
    """The registry references as resolved for this render (None for a bundle)."""

    def registry_notes(self) -> list[str]:
        """The resolution's plan lines: warnings ("moved upstream since the lock")."""
        if self.resolution is None:
            return []
        from aiplane.registry.commands import warning_lines

        return warning_lines(self.resolution)


def render_stack_file(path: str, registry: RegistryMode = "lock") -> Rendered:
    """Load, check, resolve the registry references (see ``registry.commands.resolve_mode``),
    render ``path`` (or read its bundle). The MLflow provider's resources (pinned references,
    promoted aliases) come from the resolution, so they join the rendered ones here."""
    bundle = read_bundle(path)
    if bundle is not None:
        from aiplane.providers.kubernetes.objects import resources_of

        return Rendered(bundle[0], bundle[1], resources_of(bundle[1]))
    from aiplane.check import load_and_check
    from aiplane.registry.commands import resolve_mode
    from aiplane.registry.resources import registry_resources
    from aiplane.render import render_all

    loaded = load_and_check(path)
    resolution = resolve_mode(loaded, registry)
    placement = None
    if loaded.stack.spec.gpu_pools:
        from aiplane.gpu.from_stack import placement_for_stack

        placement = placement_for_stack(loaded)
    rendering = render_all(loaded, placement, resolution.for_render())
    resources = [*rendering.resources, *registry_resources(loaded, resolution)]
    capacity = None
    if placement is not None:
        from aiplane.gpu.capacity import capacity_of

        capacity = capacity_of(loaded, placement)
    name = str(loaded.stack.metadata.name)
    return Rendered(name, rendering.manifests, resources, loaded, capacity, resolution)


def render_file(path: str) -> tuple[str, list[Manifest]]:
    """Load, check and render a stack file: (stack name, manifests)."""
    rendered = render_stack_file(path)
    return rendered.stack, rendered.manifests


def stack_name(path: str) -> str:
    """The stack's name, without checking or rendering it."""
    bundle = read_bundle(path)
    if bundle is not None:
        return bundle[0]
    from aiplane.stack.loader import load_stack

    return str(load_stack(path).stack.metadata.name)


def read_bundle(path: str) -> tuple[str, list[Manifest]] | None:
    """``(stack, items)`` when ``path`` holds a manifest bundle, else None."""
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise AiplaneError(f"{path}: cannot read: {exc.strerror}") from exc
    if head.lstrip().startswith("{"):
        doc = json.loads(Path(path).read_text())  # JSON is YAML, and 50x faster to read
    elif re.search(r"^kind:\s*List\s*$", head, re.M):
        import yaml

        doc = yaml.load(
            Path(path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        )
    else:
        return None
    if not isinstance(doc, dict) or doc.get("kind") != "List":
        return None
    name = str((doc.get("metadata") or {}).get("name") or "")
    if not name:
        raise AiplaneError(f"{path}: a manifest bundle needs metadata.name (the stack name)")
    return name, [i for i in doc.get("items") or [] if isinstance(i, dict)]
