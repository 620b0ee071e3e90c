"""The GPU table and the Node objects of kwok-managed fake GPU nodes (GFD labels, MIG)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .config import (
    K8S_VERSION,
    KWOK_NODE_ANNOTATION,
    ClusterError,
)


@dataclass(frozen=True)
class GpuModel:
    product: str  # nvidia.com/gpu.product as GPU Feature Discovery reports it
    memory_mib: int  # nvidia.com/gpu.memory (total framebuffer, MiB, as NVML reports it)
    family: str  # nvidia.com/gpu.family
    compute: tuple[int, int]  # CUDA compute capability
    mig_profiles: tuple[str, ...] = ()  # empty: not MIG capable
    machine: str = ""  # a typical cloud instance type with 8 of them


# Memory figures are the usual nvidia-smi/NVML totals; MIG profiles are those of the
# GPU Operator's default mig-parted config for each device.
GPU_MODELS: dict[str, GpuModel] = {
    "A100-40GB": GpuModel(
        "NVIDIA-A100-SXM4-40GB", 40960, "ampere", (8, 0),
        ("1g.5gb", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"), "p4d.24xlarge",
    ),
    "A100-80GB": GpuModel(
        "NVIDIA-A100-SXM4-80GB", 81920, "ampere", (8, 0),
        ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"), "p4de.24xlarge",
    ),
    "H100-80GB": GpuModel(
        "NVIDIA-H100-80GB-HBM3", 81559, "hopper", (9, 0),
        ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"), "p5.48xlarge",
    ),
    "H200-141GB": GpuModel(
        "NVIDIA-H200", 143771, "hopper", (9, 0),
        ("1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"), "p5en.48xlarge",
    ),
    "B200-180GB": GpuModel(
        "NVIDIA-B200", 183359, "blackwell", (10, 0),
        ("1g.23gb", "1g.45gb", "2g.45gb", "3g.90gb", "4g.90gb", "7g.180gb"), "p6-b200.48xlarge",
    ),
    "L40S": GpuModel("NVIDIA-L40S", 46068, "ada-lovelace", (8, 9), (), "g6e.48xlarge"),
    "L4": GpuModel("NVIDIA-L4", 23034, "ada-lovelace", (8, 9), (), "g6.48xlarge"),
    "A10G": GpuModel("NVIDIA-A10G", 23028, "ampere", (8, 6), (), "g5.48xlarge"),
    "T4": GpuModel("Tesla-T4", 15360, "turing", (7, 5), (), "g4dn.metal"),
}  # fmt: skip
GPU_ALIASES = {"H100": "H100-80GB", "H200": "H200-141GB", "B200": "B200-180GB", "A100": "A100-80GB"}


def gpu_model(name: str) -> GpuModel:
    key = GPU_ALIASES.get(name.upper(), name.upper())
    for k, v in GPU_MODELS.items():
        if k.upper() == key:
            return v
    raise ClusterError(f"unknown GPU {name!r}; known: {', '.join(GPU_MODELS)}")


def parse_mig_layout(text: str) -> dict[str, int]:
    """'3g.40gb=1,2g.20gb=1,1g.10gb=2' -> {'3g.40gb': 1, ...} (instances per GPU)."""
    layout: dict[str, int] = {}
    for part in filter(None, (s.strip() for s in text.split(","))):
        prof, _, n = part.partition("=")
        try:
            layout[prof.strip()] = int(n) if n else 1
        except ValueError:
            raise ClusterError(f"bad MIG layout entry {part!r} (want PROFILE=N)") from None
    return layout


def _mig_slices(model: GpuModel, profile: str) -> tuple[int, int]:
    """(compute slices of 7, memory slices of 8) used by one instance of profile."""
    g, gb = profile.split(".")[:2]
    total_gb = int(model.mig_profiles[-1].split(".")[1].removesuffix("gb"))
    return int(g.removesuffix("g")), max(1, round(int(gb.removesuffix("gb")) / (total_gb / 8)))


def _check_mig_layout(gpu: str, model: GpuModel, layout: dict[str, int]) -> None:
    if not model.mig_profiles:
        raise ClusterError(f"{gpu} is not MIG capable")
    compute = memory = 0
    for prof, n in layout.items():
        if prof not in model.mig_profiles:
            raise ClusterError(
                f"{gpu} has no MIG profile {prof!r}; it has {', '.join(model.mig_profiles)}"
            )
        c, m = _mig_slices(model, prof)
        compute, memory = compute + c * n, memory + m * n
    if compute > 7 or memory > 8:
        raise ClusterError(
            f"MIG layout {layout} does not fit one {gpu}: {compute}/7 compute, "
            f"{memory}/8 memory slices"
        )


def _mig_config_name(model: GpuModel, layout: dict[str, int]) -> str:
    if len(layout) == 1:
        (prof,) = layout
        return f"all-{prof}"
    small, two, three = model.mig_profiles[0], model.mig_profiles[2], model.mig_profiles[3]
    if layout == {small: 2, two: 1, three: 1}:
        return "all-balanced"
    return "custom-" + "-".join(f"{p}x{n}" for p, n in sorted(layout.items()))


def gpu_node_manifests(
    gpu: str,
    count: int = 1,
    *,
    name_prefix: str | None = None,
    gpus_per_node: int = 8,
    mig_strategy: str = "none",
    mig_layout: dict[str, int] | str | None = None,
    labels: dict[str, str] | None = None,
    taints: Sequence[dict[str, str]] = (),
) -> list[dict[str, Any]]:
    """Node objects for `count` fake nodes with `gpus_per_node` GPUs each.

    mig_strategy "none": whole GPUs as nvidia.com/gpu. "single": every GPU split the same way
    (mig_layout must have one profile) and advertised as nvidia.com/gpu, as the device plugin
    does. "mixed": every GPU split per mig_layout, advertised as nvidia.com/mig-<profile>.
    Labels follow GPU Feature Discovery; `labels` adds or overrides.
    """
    model = gpu_model(gpu)
    if mig_strategy not in ("none", "single", "mixed"):
        raise ClusterError(f"mig strategy must be none, single or mixed, not {mig_strategy!r}")
    layout = parse_mig_layout(mig_layout) if isinstance(mig_layout, str) else dict(mig_layout or {})
    if mig_strategy == "none" and layout:
        mig_strategy = "mixed"
    prefix = name_prefix or f"gpu-{gpu.lower()}-"
    gfd: dict[str, str] = {
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.deploy.device-plugin": "true",
        "nvidia.com/gpu.product": model.product,
        "nvidia.com/gpu.memory": str(model.memory_mib),
        "nvidia.com/gpu.count": str(gpus_per_node),
        "nvidia.com/gpu.family": model.family,
        "nvidia.com/gpu.compute.major": str(model.compute[0]),
        "nvidia.com/gpu.compute.minor": str(model.compute[1]),
        "nvidia.com/gpu.machine": model.machine or "kwok",
        "nvidia.com/cuda.driver-version.major": "580",
        "nvidia.com/mig.capable": "true" if model.mig_profiles else "false",
    }
    extended: dict[str, str] = {}
    if mig_strategy == "none":
        extended["nvidia.com/gpu"] = str(gpus_per_node)
        if model.mig_profiles:
            gfd["nvidia.com/mig.config"] = "all-disabled"
            gfd["nvidia.com/mig.config.state"] = "success"
    else:
        if not layout:
            raise ClusterError(f"--mig-strategy {mig_strategy} needs a --mig-layout")
        _check_mig_layout(gpu, model, layout)
        if mig_strategy == "single" and len(layout) != 1:
            raise ClusterError("MIG strategy single needs exactly one profile in the layout")
        gfd["nvidia.com/mig.strategy"] = mig_strategy
        gfd["nvidia.com/mig.config"] = _mig_config_name(model, layout)
        gfd["nvidia.com/mig.config.state"] = "success"
        if mig_strategy == "single":
            ((prof, n),) = layout.items()
            extended["nvidia.com/gpu"] = str(n * gpus_per_node)
            gfd["nvidia.com/gpu.product"] = f"{model.product}-MIG-{prof}"
            gfd["nvidia.com/gpu.count"] = str(n * gpus_per_node)
            gfd["nvidia.com/gpu.memory"] = str(int(prof.split(".")[1][:-2]) * 1024)
            gfd["nvidia.com/gpu.slices.gi"] = str(_mig_slices(model, prof)[0])
            gfd["nvidia.com/gpu.slices.ci"] = str(_mig_slices(model, prof)[0])
        else:
            extended["nvidia.com/gpu"] = "0"
            for prof, n in layout.items():
                key = f"nvidia.com/mig-{prof}"
                extended[key] = str(n * gpus_per_node)
                gfd[f"{key}.count"] = str(n * gpus_per_node)
                gfd[f"{key}.memory"] = str(int(prof.split(".")[1][:-2]) * 1024)
                gfd[f"{key}.product"] = f"{model.product}-MIG-{prof}"
                gfd[f"{key}.slices.gi"] = str(_mig_slices(model, prof)[0])
                gfd[f"{key}.slices.ci"] = str(_mig_slices(model, prof)[0])
    cpu = 24 * gpus_per_node
    mem_gi = 256 * gpus_per_node
    capacity = {
        "cpu": str(cpu),
        "memory": f"{mem_gi}Gi",
        "pods": "110",
        "ephemeral-storage": "30Ti",
        **extended,
    }
    allocatable = dict(capacity, cpu=str(cpu - 2), memory=f"{mem_gi - 16}Gi")
    nodes = []
    for i in range(count):
        name = f"{prefix}{i}"
        node_labels = {
            "type": "kwok",
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "node.kubernetes.io/instance-type": model.machine or "kwok",
            **gfd,
            **(labels or {}),
        }
        nodes.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {
                        KWOK_NODE_ANNOTATION[0]: KWOK_NODE_ANNOTATION[1],
                        "node.alpha.kubernetes.io/ttl": "0",
                    },
                    "labels": node_labels,
                },
                "spec": {"taints": list(taints)} if taints else {},
                "status": {
                    "capacity": capacity,
                    "allocatable": allocatable,
                    "nodeInfo": {
                        "architecture": "amd64",
                        "operatingSystem": "linux",
                        "kubeletVersion": f"v{K8S_VERSION}-kwok",
                        "kubeProxyVersion": f"v{K8S_VERSION}-kwok",
                    },
                },
            }
        )
    return nodes
