"""``aiplane explain FILE [--json]``: the GPU placement of a stack, per pool and per model.

Exit code 0 when every model replica is placed, 1 when some model is short of capacity (batch
pipeline steps that are only queued do not count), like ``validate`` does for errors.
"""

from __future__ import annotations

import json
import sys

from aiplane.gpu.from_stack import (
    ModelPlacement,
    PoolPlacement,
    StackPlacement,
    placement_for_stack,
)


def explain_main(file: str, as_json: bool) -> int:
    from aiplane.check import load_and_check

    loaded = load_and_check(file, placement=False)  # a short placement is what it shows
    placement = placement_for_stack(loaded)
    if as_json:
        json.dump(placement.to_dict(), sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
    else:
        _print_tables(placement)
    short = [m for m in placement.models if m.kind == "model" and m.status != "placed"]
    return 1 if short else 0


def _print_tables(placement: StackPlacement) -> None:
    from rich.console import Console
    from rich.table import Table

    # Pipes and CI logs get 80 columns by default, too narrow for the reasons column.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    verdict = "optimal" if placement.gap == 0 else f"gap {placement.gap}"
    console.print(
        f"GPU placement: {placement.gpus_used} GPUs used, lower bound {placement.lower_bound} "
        f"({verdict}; {placement.method}, {placement.solve_seconds:.2f} s)"
    )
    pools = Table(title="Pools", title_justify="left")
    for column in ("pool", "GPU", "MIG", "GPUs used", "lower bound", "compute used", "layouts"):
        pools.add_column(column)
    for pool in placement.pools:
        pools.add_row(*_pool_row(pool))
    console.print(pools)
    models = Table(title="Models", title_justify="left")
    for column in (
        "model",
        "version",
        "pool",
        "slice",
        "replicas",
        "memory GiB",
        "headroom GiB",
        "status",
    ):
        models.add_column(column)
    for model in placement.models:
        models.add_row(*_model_row(model))
    console.print(models)


def _pool_row(pool: PoolPlacement) -> list[str]:
    capacity = "" if pool.capacity is None else f" / {pool.capacity}"
    layouts = "\n".join(f"{n} × {text}" for text, n in pool.layouts) or "-"
    return [
        pool.name,
        pool.gpu,
        pool.mig,
        f"{pool.gpus_used}{capacity}",
        str(pool.lower_bound),
        f"{pool.compute_utilisation:.0%}",
        layouts,
    ]


def _model_row(model: ModelPlacement) -> list[str]:
    name = model.name if model.kind == "model" else f"{model.name} (step)"
    version = f"{model.version} ({model.stage})" if model.stage else model.version
    what = model.slice if model.slice != "gpu" else f"{model.resource_count} GPU"
    if model.decided_by == "planner":
        what += " (auto)"
    memory = "-" if model.memory_gib is None else f"{model.memory_gib:.1f}"
    if model.capacity_gib is not None and model.memory_gib is not None:
        memory += f" of {model.capacity_gib:.1f}"
    headroom = "-" if model.headroom_gib is None else f"{model.headroom_gib:+.1f}"
    status = model.status if not model.reason else f"{model.status}: {model.reason}"
    return [
        name,
        version,
        model.pool,
        what,
        f"{model.replicas_placed}/{model.replicas}",
        memory,
        headroom,
        status,
    ]
