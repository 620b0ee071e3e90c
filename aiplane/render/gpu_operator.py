"""``spec.gpuPools`` → NVIDIA GPU Operator configuration.

Rendered (all in namespace ``gpu-operator`` except the cluster-scoped ClusterPolicy):

* ``ClusterPolicy/cluster-policy``: MIG strategy, MIG Manager pointed at our mig-parted ConfigMap,
  device plugin pointed at our device-plugin ConfigMap, DCGM exporter and GFD on. Every key the
  CRD requires is present.
* ``ConfigMap/aiplane-mig-parted-config`` (key ``config.yaml``): one named mig-parted config per
  MIG pool (per node group of a ``mig: auto`` pool, see below), plus ``all-disabled``:
  ClusterPolicy's ``migManager.config.default`` names that config for unlabelled nodes, and MIG
  Manager looks it up in *our* ConfigMap once we replace the generated one, so leaving it out
  would break every GPU node without the label.
* ``ConfigMap/aiplane-device-plugin-config``: one device-plugin config per time-slicing policy, and
  ``aiplane-default`` (no sharing) as the default for nodes that ask for nothing.
* ``NodeLabels/<pool>`` pseudo-objects: aiplane does not own Node objects, so the labels MIG
  Manager and the device plugin act on (``nvidia.com/mig.config``, ``nvidia.com/device-plugin.config``)
  are a patch of the pool's nodes that the plan shows and apply performs.

``mig: auto`` pools get the layouts the GPU placement planner chose (``aiplane.gpu``): one config
``aiplane-<pool>`` and one NodeLabels over the pool when every used node has the same layout,
else one config ``aiplane-<pool>-<n>`` and one NodeLabels ``<pool>-<n>`` per node group, selected
by ``aiplane.dev/node-group: <n>`` on top of the pool's selector (``render/placement.py`` says
why). The layouts are checked against the placement rules again here, so a planner bug cannot
reach MIG Manager, and strategy ``single`` refuses a node whose slices differ.
"""

from __future__ import annotations

from typing import Any

import yaml

from aiplane.errors import StackError
from aiplane.gpu.catalog import GpuSpec, get_gpu, gpu_names
from aiplane.gpu.layouts import check_layout
from aiplane.providers.kubernetes.labels import (
    CREATE_DEFAULTS_ANN,
    MERGE_ANN,
    NODE_LABELS_API,
    NODE_LABELS_KIND,
)
from aiplane.render.common import GPU_OPERATOR_NAMESPACE, Context, Obj
from aiplane.render.placement import (
    NODE_GROUP_LABEL,
    NodeGroup,
    layout_entries,
    node_groups,
    pool_placement,
)
from aiplane.stack.models import GpuPool

MIG_CONFIGMAP = "aiplane-mig-parted-config"
DEVICE_PLUGIN_CONFIGMAP = "aiplane-device-plugin-config"
DEFAULT_DEVICE_PLUGIN_CONFIG = "aiplane-default"
MIG_CONFIG_KEY = "config.yaml"
MIG_CONFIGS = "mig-configs"
# What the ClusterPolicy CRD requires but no stack means to own: sent only when aiplane creates
# the policy (an operator installed by Helm keeps its own values for these).
POLICY_CREATE_DEFAULTS = (
    "spec.operator", "spec.daemonsets", "spec.driver", "spec.toolkit", "spec.dcgm",
    "spec.nodeStatusExporter", "spec.dcgmExporter", "spec.gfd",
    "+spec.devicePlugin.enabled",  # required, and every GPU stack needs the device plugin
)  # fmt: skip
MIG_CONFIG_LABEL = "nvidia.com/mig.config"
DEVICE_PLUGIN_LABEL = "nvidia.com/device-plugin.config"
_POOLS = ("spec", "gpuPools")


def render_gpu_operator(ctx: Context) -> list[Obj]:
    pools = ctx.loaded.stack.spec.gpu_pools
    if not pools:
        return []
    mig_pools = [(i, p) for i, p in enumerate(pools) if p.mig.policy != "disabled"]
    strategy = cluster_mig_strategy(ctx)
    shared = _device_plugin_configs(ctx, strategy)
    out: list[Obj] = [_cluster_policy(ctx, strategy, bool(mig_pools), bool(shared))]
    if mig_pools:
        out.append(_mig_configmap(ctx, mig_pools))
    if shared:
        out.append(_device_plugin_configmap(ctx, shared))
    out.extend(_node_labels(ctx, shared))
    return out


def cluster_mig_strategy(ctx: Context) -> str:
    """ClusterPolicy's ``mig.strategy`` is cluster-wide: mixed wins if any pool needs it."""
    strategies = {
        p.mig.strategy for p in ctx.loaded.stack.spec.gpu_pools if p.mig.policy != "disabled"
    }
    if not strategies:
        return "none"
    if len(strategies) > 1:
        ctx.warn(
            _POOLS,
            "GPU pools ask for different MIG strategies; the cluster uses 'mixed'",
            "ClusterPolicy mig.strategy is one value for the whole cluster",
        )
        return "mixed"
    return strategies.pop()


def _cluster_policy(ctx: Context, strategy: str, has_mig: bool, has_sharing: bool) -> Obj:
    names = ", ".join(p.name for p in ctx.loaded.stack.spec.gpu_pools)
    device_plugin: Obj = {"enabled": True}
    if has_sharing:
        device_plugin["config"] = {
            "name": DEVICE_PLUGIN_CONFIGMAP,
            "default": DEFAULT_DEVICE_PLUGIN_CONFIG,
        }
    spec: Obj = {
        # The CRD requires these keys; the values are the operator's usual defaults.
        "operator": {"defaultRuntime": "containerd", "runtimeClass": "nvidia"},
        "daemonsets": {"updateStrategy": "RollingUpdate"},
        "driver": {"enabled": True},
        "toolkit": {"enabled": True},
        "dcgm": {"enabled": False},
        "nodeStatusExporter": {"enabled": False},
        "devicePlugin": device_plugin,
        "dcgmExporter": {"enabled": True},
        "gfd": {"enabled": True},
    }
    if has_mig:  # a stack without MIG pools has no say in MIG (other stacks may need it)
        spec["mig"] = {"strategy": strategy}
        spec["migManager"] = {
            "enabled": True,
            "config": {"name": MIG_CONFIGMAP, "default": "all-disabled"},
        }
    defaults = {CREATE_DEFAULTS_ANN: ",".join(POLICY_CREATE_DEFAULTS)}
    return {
        "apiVersion": "nvidia.com/v1",
        "kind": "ClusterPolicy",
        "metadata": ctx.shared_meta(
            "cluster-policy", _POOLS, f"gpu pools {names}", namespace=None, annotations=defaults
        ),
        "spec": spec,
    }


def _gpu(ctx: Context, index: int, pool: GpuPool) -> GpuSpec:
    gpu = get_gpu(pool.gpu)
    if gpu is None:
        raise StackError(
            f"{ctx.loaded.path}: unknown GPU",
            [ctx.loaded.diagnostic((*_POOLS, index, "gpu"), f"unknown GPU model '{pool.gpu}'")],
        )
    return gpu


def _ambiguous(gpu: GpuSpec, profile: str) -> bool:
    """Does another catalog GPU use the same profile name for a different slice shape?"""
    mine = gpu.mig_profiles[profile]
    for other_name in gpu_names():
        other = get_gpu(other_name)
        theirs = other.mig_profiles.get(profile) if other else None
        if theirs and (theirs.compute_slices, theirs.memory_slices) != (
            mine.compute_slices,
            mine.memory_slices,
        ):
            return True
    return False


def mig_entries(ctx: Context, index: int, pool: GpuPool) -> list[dict[str, Any]]:
    """mig-parted entries for one pool; raises ``StackError`` on a layout that cannot exist."""
    gpu = _gpu(ctx, index, pool)
    entries: list[dict[str, Any]] = []
    covered: set[int] = set()
    for d_index, dev in enumerate(pool.mig.devices):
        path = (*_POOLS, index, "mig", "devices", d_index)
        entry: dict[str, Any] = {"devices": dev.gpus}
        if dev.gpus != "all":
            covered.update(dev.gpus)
        if dev.profiles:
            problem = check_layout(gpu, dev.profiles)
            if problem:
                raise StackError(
                    f"{ctx.loaded.path}: invalid MIG layout",
                    [ctx.loaded.diagnostic((*path, "profiles"), problem)],
                )
            if pool.mig.strategy == "single" and len(dev.profiles) > 1:
                raise StackError(
                    f"{ctx.loaded.path}: invalid MIG layout",
                    [
                        ctx.loaded.diagnostic(
                            (*path, "profiles"),
                            "strategy single needs identical MIG devices",
                            "use strategy: mixed",
                        )
                    ],
                )
            if any(_ambiguous(gpu, p) for p in dev.profiles):
                # e.g. 1g.10gb is 2 memory slices on A100-40GB but 1 on A100-80GB: pin the model.
                entry["device-filter"] = list(gpu.pci_ids)
            entry["mig-enabled"] = True
            entry["mig-devices"] = dict(sorted(dev.profiles.items()))
        else:
            entry["mig-enabled"] = False
        entries.append(entry)
    all_listed = any(d.gpus == "all" for d in pool.mig.devices)
    rest = [g for g in range(pool.gpus_per_node) if g not in covered]
    if rest and not all_listed:
        # GPUs the stack does not mention are left whole, explicitly, so the result is known.
        entries.append({"devices": rest, "mig-enabled": False})
    return entries


def auto_groups(ctx: Context, index: int, pool: GpuPool) -> tuple[NodeGroup, ...]:
    """The planner's node groups of a ``mig: auto`` pool, each layout checked again."""
    gpu = _gpu(ctx, index, pool)
    groups = node_groups(pool, pool_placement(ctx, pool.name))
    for group in groups:
        for gpu_index, counts in group.layout:
            problem = check_layout(gpu, dict(counts))
            if problem:  # the planner only emits valid layouts; this guards MIG Manager anyway
                raise StackError(
                    f"{ctx.loaded.path}: invalid MIG layout",
                    [
                        ctx.loaded.diagnostic(
                            (*_POOLS, index, "mig"), f"planned GPU {gpu_index}: {problem}"
                        )
                    ],
                )
        profiles = {name for _i, counts in group.layout for name, _n in counts}
        if pool.mig.strategy == "single" and len(profiles) > 1:
            raise StackError(
                f"{ctx.loaded.path}: invalid MIG layout",
                [
                    ctx.loaded.diagnostic(
                        (*_POOLS, index, "mig", "strategy"),
                        "strategy single needs identical MIG devices on a node, but the planner "
                        f"chose {', '.join(sorted(profiles))}",
                        "use strategy: mixed",
                    )
                ],
            )
    return groups


def _auto_entries(gpu: GpuSpec, pool: GpuPool, group: NodeGroup) -> list[dict[str, Any]]:
    entries = layout_entries(group.layout, pool.gpus_per_node)
    for entry in entries:
        if any(_ambiguous(gpu, p) for p in entry.get("mig-devices", {})):
            entry["device-filter"] = list(gpu.pci_ids)  # as for explicit layouts
    return entries


def _mig_configmap(ctx: Context, pools: list[tuple[int, GpuPool]]) -> Obj:
    configs: dict[str, Any] = {"all-disabled": [{"devices": "all", "mig-enabled": False}]}
    for index, pool in pools:
        if pool.mig.policy == "auto":
            gpu = _gpu(ctx, index, pool)
            for group in auto_groups(ctx, index, pool):
                configs[group.config] = _auto_entries(gpu, pool, group)
        else:
            configs[pool.mig_config_name()] = mig_entries(ctx, index, pool)
    document = {"version": "v1", MIG_CONFIGS: configs}
    names = ", ".join(p.name for _, p in pools)
    merge = {MERGE_ANN: f"{MIG_CONFIG_KEY}:{MIG_CONFIGS}"}  # other stacks' configs live here too
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": ctx.shared_meta(
            MIG_CONFIGMAP,
            _POOLS,
            f"gpu pools {names}",
            namespace=GPU_OPERATOR_NAMESPACE,
            annotations=merge,
        ),
        "data": {
            MIG_CONFIG_KEY: yaml.safe_dump(document, sort_keys=True, default_flow_style=False)
        },
    }


def _pool_profiles(ctx: Context, pool: GpuPool) -> set[str]:
    """MIG profiles the pool's GPUs are partitioned into: the stack's or the planner's."""
    if pool.mig.policy == "explicit":
        return {p for d in pool.mig.devices for p in d.profiles}
    placed = pool_placement(ctx, pool.name) if pool.mig.policy == "auto" else None
    if placed is None:
        return set()
    return {name for g in placed.gpus for name, _start in g.layout}


def _sharing_config(ctx: Context, pool: GpuPool, strategy: str) -> dict[str, Any]:
    ts = pool.time_slicing
    assert ts is not None
    names = ["nvidia.com/gpu"]
    gpu = get_gpu(pool.gpu)
    if strategy == "mixed" and gpu is not None:
        profiles = {p for p in _pool_profiles(ctx, pool) if p in gpu.mig_profiles}
        names += sorted(gpu.mig_profiles[p].resource_name for p in profiles)
    return {
        "version": "v1",
        "flags": {"migStrategy": strategy},
        "sharing": {
            "timeSlicing": {
                "renameByDefault": ts.rename_by_default,
                "failRequestsGreaterThanOne": ts.fail_requests_greater_than_one,
                "resources": [{"name": n, "replicas": ts.replicas} for n in names],
            }
        },
    }


def _device_plugin_configs(ctx: Context, strategy: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """pool name → (config key, device-plugin config) for every time-sliced pool."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    taken: dict[str, dict[str, Any]] = {}
    for pool in ctx.loaded.stack.spec.gpu_pools:
        if pool.time_slicing is None:
            continue
        config = _sharing_config(ctx, pool, strategy)
        key = pool.time_slicing.name
        if taken.get(key, config) != config:
            key = f"{pool.name}-{key}"  # same name, different content: keep both apart
        taken[key] = config
        out[pool.name] = (key, config)
    return out


def _device_plugin_configmap(ctx: Context, shared: dict[str, tuple[str, dict[str, Any]]]) -> Obj:
    default = {"version": "v1", "flags": {"migStrategy": cluster_mig_strategy(ctx)}}
    data = {DEFAULT_DEVICE_PLUGIN_CONFIG: yaml.safe_dump(default, sort_keys=True)}
    for key, config in shared.values():
        data[key] = yaml.safe_dump(config, sort_keys=True)
    names = ", ".join(sorted(shared))
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": ctx.shared_meta(
            DEVICE_PLUGIN_CONFIGMAP, _POOLS, f"gpu pools {names}", namespace=GPU_OPERATOR_NAMESPACE
        ),
        "data": data,
    }


_DISRUPTION = "changing nvidia.com/mig.config makes MIG Manager stop every GPU pod on the node"


def _node_labels(ctx: Context, shared: dict[str, tuple[str, dict[str, Any]]]) -> list[Obj]:
    out: list[Obj] = []
    for index, pool in enumerate(ctx.loaded.stack.spec.gpu_pools):
        # One NodeLabels per node: they all apply under one field manager, so two objects on
        # the same node would each release the other's labels. A node group's object therefore
        # carries the device-plugin label too.
        sharing = {DEVICE_PLUGIN_LABEL: shared[pool.name][0]} if pool.name in shared else {}
        groups = auto_groups(ctx, index, pool) if pool.mig.policy == "auto" else ()
        if len(groups) > 1:
            out.extend(_group_labels(ctx, index, pool, g, sharing) for g in groups)
            continue
        labels = dict(sharing)
        annotations: dict[str, str] = {}
        if pool.mig.policy != "disabled":
            labels[MIG_CONFIG_LABEL] = groups[0].config if groups else pool.mig_config_name()
            annotations["aiplane.dev/disruption"] = _DISRUPTION
        if labels:
            out.append(
                _node_labels_obj(ctx, index, pool, pool.name, pool.selector(), labels, annotations)
            )
    return out


def _group_labels(
    ctx: Context, index: int, pool: GpuPool, group: NodeGroup, sharing: dict[str, str]
) -> Obj:
    assert group.label is not None
    ctx.warn(
        (*_POOLS, index, "mig"),
        f"the planner needs {len(group.nodes)} node(s) of pool '{pool.name}' with MIG config "
        f"{group.config}",
        f"label {len(group.nodes)} of the pool's nodes {NODE_GROUP_LABEL}={group.label}",
    )
    selector = {**pool.selector(), NODE_GROUP_LABEL: group.label}
    labels = {**sharing, MIG_CONFIG_LABEL: group.config}
    obj = _node_labels_obj(
        ctx,
        index,
        pool,
        f"{pool.name}-{group.label}",
        selector,
        labels,
        {"aiplane.dev/disruption": _DISRUPTION},
    )
    obj["spec"]["nodes"] = len(group.nodes)  # how many nodes should carry the group label
    return obj


def _node_labels_obj(
    ctx: Context,
    index: int,
    pool: GpuPool,
    name: str,
    selector: dict[str, str],
    labels: dict[str, str],
    annotations: dict[str, str],
) -> Obj:
    return {
        "apiVersion": NODE_LABELS_API,
        "kind": NODE_LABELS_KIND,
        "metadata": ctx.meta(
            name, (*_POOLS, index), f"pool {pool.name}", namespace=None, annotations=annotations
        ),
        "spec": {"nodeSelector": selector, "labels": labels},
    }
