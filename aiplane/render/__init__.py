"""Compile a loaded stack into what the data plane runs on, tagged with the provider that applies it.

``render_all(loaded)`` returns a ``Rendering``: the Kubernetes manifests, every resource as a plan
``Resource`` (Kubernetes objects, node labels, and what targets add for other providers through
``Context.add``), and what the targets could not express (``Diagnostic`` warnings, never dropped
silently). ``render_stack`` and ``render_with_warnings`` are its Kubernetes views. The output is
deterministic: objects sorted by kind rank (``providers.kubernetes.kind_table``), namespace and
name, keys in a stable order, so two renders of the same stack are byte-identical.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiplane.errors import Diagnostic, StackError
from aiplane.providers.base import Resolution, Resource
from aiplane.providers.kubernetes.objects import resources_of
from aiplane.render.common import Context, Obj, canonical, sort_key
from aiplane.render.placement import use_placement
from aiplane.stack.loader import LoadedStack

if TYPE_CHECKING:
    from aiplane.gpu.stack_placement import StackPlacement

Target = Callable[[Context], list[Obj]]


def targets() -> dict[str, Target]:
    """Target name → renderer, in the order the golden files name them."""
    from aiplane.render.argo import render_pipelines
    from aiplane.render.batch_jobs import render_batch_jobs
    from aiplane.render.collections import render_collections
    from aiplane.render.gpu_operator import render_gpu_operator
    from aiplane.render.kueue import render_queues
    from aiplane.render.priorities import render_priorities
    from aiplane.render.routes import render_routes
    from aiplane.render.vllm import render_vllm

    return {
        "priorities": render_priorities,
        "gpu_operator": render_gpu_operator,
        "vllm": render_vllm,
        "routes": render_routes,
        "argo": render_pipelines,
        "collections": render_collections,
        "queues": render_queues,
        "batch_jobs": render_batch_jobs,
    }


def _namespace(ctx: Context) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": ctx.meta(
            ctx.namespace, ("metadata", "namespace"), f"stack {ctx.stack_name}", namespace=None
        ),
    }


def finish(objects: list[Obj]) -> list[dict[str, Any]]:
    """Sort and put keys in canonical order."""
    return [canonical(o, top=True) for o in sorted(objects, key=sort_key)]


def render_target(loaded: LoadedStack, name: str) -> tuple[list[dict[str, Any]], list[Diagnostic]]:
    """One target's objects (without the Namespace), sorted; for golden tests and debugging."""
    _check_args(loaded)
    ctx = Context(loaded)
    return finish(targets()[name](ctx)), ctx.warnings


def _check_args(loaded: LoadedStack) -> list[Diagnostic]:
    # These belong to the stack checks; an unchecked stack (``parse_stack`` alone) gets them here
    # so it can never produce a command line vLLM would reject or a manifest with a pasted
    # credential. A checked stack already ran them and carries their warnings.
    if loaded.checked:
        return []
    from aiplane.engines.vllm import check_vllm_args
    from aiplane.gateway.capabilities import check_gateway
    from aiplane.stack.check_secrets import check_secrets

    found = check_vllm_args(loaded) + check_secrets(loaded) + check_gateway(loaded)
    errors = [d for d in found if d.severity == "error"]
    if errors:
        raise StackError(f"{loaded.path}: {len(errors)} error(s)", found)
    return found


@dataclass(frozen=True)
class Rendering:
    """A whole render: Kubernetes manifests (sorted), every resource tagged with its provider
    (the manifests as Kubernetes/node-labels resources, then other providers' in render order),
    and the warnings about what could not be expressed."""

    manifests: list[dict[str, Any]]
    resources: list[Resource]
    warnings: list[Diagnostic]


def render_all(
    loaded: LoadedStack,
    placement: StackPlacement | None = None,
    resolved: Mapping[str, Resolution] | None = None,
) -> Rendering:
    """Render every target (``placement``: the GPU placement the command already solved;
    solved here when needed; ``resolved``: the registry references, resolved before render by
    the data sources and keyed by ``stack.model_refs.resolution_key``; render never reads a
    registry)."""
    arg_notes = _check_args(loaded)
    ctx = Context(loaded, resolved=dict(resolved or {}))
    if placement is not None:
        use_placement(ctx, placement)
    objects: list[Obj] = [_namespace(ctx)]
    for render in targets().values():
        objects.extend(render(ctx))
    known = set(loaded.warnings)
    warnings = [w for w in [*arg_notes, *ctx.warnings] if w not in known]
    ordered = sorted(_unique(warnings), key=lambda d: (d.line, d.column, d.message))
    manifests = finish(objects)
    return Rendering(manifests, [*resources_of(manifests), *ctx.resources], ordered)


def render_with_warnings(
    loaded: LoadedStack,
    placement: StackPlacement | None = None,
    resolved: Mapping[str, Resolution] | None = None,
) -> tuple[list[dict[str, Any]], list[Diagnostic]]:
    """Every Kubernetes object of every target, and the warnings (see ``render_all``)."""
    rendering = render_all(loaded, placement, resolved)
    return rendering.manifests, rendering.warnings


def _unique(items: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[Diagnostic] = set()
    out: list[Diagnostic] = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def render_resources(
    loaded: LoadedStack, placement: StackPlacement | None = None
) -> list[Resource]:
    """Every resource of every target, tagged with the provider that applies it."""
    return render_all(loaded, placement).resources


def render_stack(
    loaded: LoadedStack, placement: StackPlacement | None = None
) -> list[dict[str, Any]]:
    """Every object of every target (see ``render_with_warnings``)."""
    return render_with_warnings(loaded, placement)[0]
