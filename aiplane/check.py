"""The check step: every check of a loaded stack, composed above the layers that own them.

``stack`` checks names, references, DAGs and secrets; ``gpu`` checks that pools and models fit
their GPUs (and, once everything else passes, that the deployed models can be placed on the
pools); ``engines`` checks engine flags; ``gateway`` reports route fields a gateway target does
not enforce. This module is the only one that knows all of them, so
none of them imports another sideways.
"""

from __future__ import annotations

from dataclasses import replace

from aiplane.engines.vllm import check_vllm_args
from aiplane.errors import Diagnostic, StackError
from aiplane.gateway.capabilities import check_gateway
from aiplane.gpu.check_models import check_model_fit
from aiplane.gpu.check_placement import check_placement
from aiplane.gpu.check_pools import check_pools
from aiplane.gpu.check_queues import check_queue_fit
from aiplane.stack.check_collections import check_collections
from aiplane.stack.check_models import check_models
from aiplane.stack.check_pipelines import check_pipelines
from aiplane.stack.check_queues import check_queues
from aiplane.stack.check_registries import check_registries
from aiplane.stack.check_routes import check_routes
from aiplane.stack.check_secrets import check_secrets
from aiplane.stack.check_serving import check_serving
from aiplane.stack.checks import Check, check_names
from aiplane.stack.loader import LoadedStack, load_stack

STACK_CHECKS: tuple[Check, ...] = (
    check_names, check_models, check_pipelines, check_routes, check_registries,
    check_collections, check_secrets, check_serving, check_queues,
)  # fmt: skip
GPU_CHECKS: tuple[Check, ...] = (check_pools, check_model_fit, check_queue_fit)
ENGINE_CHECKS: tuple[Check, ...] = (check_vllm_args,)
GATEWAY_CHECKS: tuple[Check, ...] = (check_gateway,)  # what each gateway target enforces


def check_stack(loaded: LoadedStack, *, placement: bool = True) -> list[Diagnostic]:
    """Every cross-reference and feasibility problem of the stack, in file order.

    ``placement=False`` leaves out whether the deployed models can be placed (``explain`` shows
    the placement itself, shortfalls included)."""
    checks = (*STACK_CHECKS, *GPU_CHECKS, *ENGINE_CHECKS, *GATEWAY_CHECKS)
    found = [d for check in checks for d in check(loaded)]
    if placement and not any(d.severity == "error" for d in found):
        # Placement needs known GPUs, pools and estimates; it would only repeat other errors.
        found += check_placement(loaded)
    return sorted(found, key=lambda d: (d.line, d.column, d.message))


def load_and_check(path: str, *, placement: bool = True) -> LoadedStack:
    """Load the stack and run every cross-reference and GPU feasibility check.

    Raises ``StackError`` when any error is found; warnings are kept on the result's ``warnings``.
    """
    loaded = load_stack(path)
    problems = check_stack(loaded, placement=placement)
    errors = [d for d in problems if d.severity == "error"]
    if errors:
        raise StackError(f"{path}: {len(errors)} error(s)", problems)
    return replace(loaded, warnings=tuple(problems), checked=True)
