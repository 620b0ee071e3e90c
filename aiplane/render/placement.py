"""The GPU placement planner's decisions, in the shape the renderers need them.

The planner (``aiplane.gpu``) runs only when the stack has a ``mig: auto`` pool or a
``resources: auto`` model: it imports highspy and solves an integer program, and a stack without
``auto`` has nothing for it to decide. Its result is computed once per render ``Context``.

Node groups of a ``mig: auto`` pool. The planner numbers a pool's nodes 0..N-1 and gives each used
node a MIG layout; nodes with identical layouts form a group (``PoolPlacement.node_layouts``). The
planner's nodes are interchangeable (a pool is identical nodes), but Kubernetes has no selector
for "any N of these nodes", so:

* one group (the usual case: every used node has the same layout) → one mig-parted config
  ``aiplane-<pool>`` and one ``NodeLabels`` over the whole pool selector. Nodes the planner left
  unused get the same layout too, which is correct (their slices are spare capacity of the shape
  the models use, e.g. for autoscaling) and keeps the design free of node names.
* several groups → one config ``aiplane-<pool>-<n>`` per group (n = 1, 2, ...) and one
  ``NodeLabels`` ``<pool>-<n>`` whose selector is the pool's plus ``aiplane.dev/node-group: <n>``;
  ``spec.nodes`` says how many nodes the group needs, and render warns that someone has to put
  that label on that many nodes. Until then the NodeLabels match no node and apply changes
  nothing, rather than re-partitioning the wrong nodes. Auto models that live in one group get
  the group label in their nodeSelector (needed under strategy ``single``, where every slice is
  advertised as ``nvidia.com/gpu``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiplane.errors import StackError
from aiplane.stack.models import GpuPool, Model, StackSpec

if TYPE_CHECKING:
    from aiplane.gpu.stack_placement import ModelPlacement, PoolPlacement, StackPlacement
    from aiplane.render.common import Context
    from aiplane.stack.models import Deployment

NODE_GROUP_LABEL = "aiplane.dev/node-group"
_CACHE_KEY = "placement"

# (GPU index, ((profile, count), ...)) per MIG GPU of one node, as ``PoolPlacement.mig_devices``.
NodeLayout = tuple[tuple[int, tuple[tuple[str, int], ...]], ...]


@dataclass(frozen=True)
class NodeGroup:
    """Nodes of an auto pool that get one mig-parted config."""

    config: str  # mig-parted config name, the value of nvidia.com/mig.config
    label: str | None  # value of aiplane.dev/node-group; None = every node of the pool
    nodes: tuple[int, ...]  # the planner's node numbers
    layout: NodeLayout


def uses_planner(spec: StackSpec) -> bool:
    """Does anything in the stack ask the planner to decide?"""
    return any(p.mig.policy == "auto" for p in spec.gpu_pools) or any(
        m.resources.auto for m in spec.models
    )


def use_placement(ctx: Context, placement: StackPlacement) -> None:
    """Render with an already solved placement (when the stack uses the planner at all)."""
    ctx.cache[_CACHE_KEY] = placement if uses_planner(ctx.loaded.stack.spec) else None


def stack_placement(ctx: Context) -> StackPlacement | None:
    """The planner's result for the stack, or None when nothing is ``auto`` (planner not run)."""
    if _CACHE_KEY not in ctx.cache:
        ctx.cache[_CACHE_KEY] = None
        if uses_planner(ctx.loaded.stack.spec):
            # Imported here: it pulls in highspy, which a render without ``auto`` never needs.
            from aiplane.gpu.from_stack import placement_for_stack

            ctx.cache[_CACHE_KEY] = placement_for_stack(ctx.loaded)
    result: StackPlacement | None = ctx.cache[_CACHE_KEY]
    return result


def pool_placement(ctx: Context, pool: str) -> PoolPlacement | None:
    placement = stack_placement(ctx)
    if placement is None:
        return None
    return next((p for p in placement.pools if p.name == pool), None)


def node_groups(pool: GpuPool, placed: PoolPlacement | None) -> tuple[NodeGroup, ...]:
    """The mig-parted configs an auto pool needs (see the module docstring)."""
    groups = placed.node_layouts() if placed is not None else ()
    if len(groups) <= 1:
        nodes, layout = groups[0] if groups else ((), ())
        return (NodeGroup(pool.mig_config_name(), None, nodes, layout),)
    return tuple(
        NodeGroup(f"{pool.mig_config_name()}-{n}", str(n), nodes, layout)
        for n, (nodes, layout) in enumerate(groups, start=1)
    )


def layout_entries(layout: NodeLayout, gpus_per_node: int) -> list[dict[str, Any]]:
    """mig-parted ``devices`` entries for one node layout: consecutive GPUs with the same profiles
    share an entry, and GPUs without MIG are listed as disabled so the result is known."""
    entries: list[dict[str, Any]] = []
    for index, counts in layout:
        devices = dict(counts)
        last = entries[-1] if entries else None
        if last is not None and last["mig-devices"] == devices and last["devices"][-1] == index - 1:
            last["devices"].append(index)
        else:
            entries.append({"devices": [index], "mig-enabled": True, "mig-devices": devices})
    mig = {index for index, _counts in layout}
    rest = [g for g in range(gpus_per_node) if g not in mig]
    if rest:
        entries.append({"devices": rest, "mig-enabled": False})
    return entries


def _workload_name(model: Model, dep: Deployment) -> str:
    return f"{model.name}/{dep.version}/{dep.stage}"  # as aiplane.gpu.from_stack names it


def model_placement(ctx: Context, model: Model, dep: Deployment) -> ModelPlacement | None:
    """The planner's decision for one deployed version of an ``auto`` model.

    A deployment with no replicas is not planned; it takes what the planner chose for another
    stage of the model (same resources, so the same slice). None when the planner has nothing.
    """
    placement = stack_placement(ctx)
    if placement is None or not model.resources.auto:
        return None
    mine = [p for p in placement.models if p.kind == "model" and p.name == model.name]
    exact = [p for p in mine if (p.version, p.stage) == (dep.version, dep.stage)]
    found = exact or mine
    return found[0] if found else None


def check_placed(ctx: Context, m_index: int, placed: ModelPlacement) -> None:
    """Render cannot invent a slice the planner did not find: fail at the model's resources.
    A model placed in part still has its slice; the replicas beyond capacity stay Pending."""
    path = ("spec", "models", m_index, "resources")
    what = f"{placed.name} {placed.version} ({placed.stage})"
    if placed.status == "partial":
        ctx.warn(
            path,
            f"the GPU planner placed {placed.replicas_placed} of {placed.replicas} replicas of "
            f"{what}: {placed.reason}",
            "the others stay Pending; see 'aiplane explain'",
        )
    if placed.status != "unplaced":
        return
    loaded = ctx.loaded
    raise StackError(
        f"{loaded.path}: GPU placement failed",
        [
            loaded.diagnostic(
                path,
                f"the GPU planner could not place {what} in pool '{placed.pool}': "
                f"{placed.reason or 'no capacity'}",
                "add nodes to the pool, lower replicas or priorities of other models, "
                "or see 'aiplane explain'",
            )
        ],
    )


def model_node_group(
    ctx: Context, pool: GpuPool, model: Model, dep: Deployment
) -> tuple[str | None, bool]:
    """(node-group label value of the one group the model's replicas live in, spread?) for a
    model in an auto pool with several node groups; (None, False) when groups do not apply."""
    placement = stack_placement(ctx)
    placed = pool_placement(ctx, pool.name)
    if placement is None or placed is None or pool.mig.policy != "auto":
        return None, False
    groups = node_groups(pool, placed)
    if len(groups) == 1:
        return None, False
    name = _workload_name(model, dep)
    nodes = {u.node for u in placement.plan.units if u.workload == name and u.pool == pool.name}
    labels = {g.label for g in groups if nodes & set(g.nodes)}
    if len(labels) == 1:
        return labels.pop(), False
    return None, len(labels) > 1
