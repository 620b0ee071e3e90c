"""GPU catalog: memory, interconnect, node labels and MIG profiles per GPU model.

Canonical names follow one pattern, ``<chip>-<memory>GB[-<variant>]``: ``A100-40GB``,
``A100-80GB``, ``H100-80GB``, ``H100-94GB-NVL``, ``H200-141GB``, ``GH200-96GB``,
``GH200-144GB``, ``B200-180GB``, ``A30-24GB``, ``L4-24GB``, ``L40S-48GB``. ``get_gpu`` also
accepts common spellings (case, spaces, ``NVIDIA`` prefix, the bare chip name where it is
unambiguous, GFD product labels and PCI device IDs), so ``"H100-94GB NVL"``, ``"h100 nvl"``,
``"L4"`` and ``"NVIDIA-H100-80GB-HBM3"`` all resolve.

MIG geometry (sources: NVIDIA MIG User Guide "Supported MIG Profiles" and ``nvidia-smi mig
-lgipp`` output, see ``shared/notes/targets.md`` §1.4): a 7-compute-slice GPU has 8 memory slots;
each GPU-instance profile occupies ``memory_slices`` consecutive slots starting at one of its
allowed start slots. The profile name's memory figure differs per GPU (``1g.10gb`` is 1 memory
slot on A100-80GB/H100-80GB but 2 slots on A100-40GB), so profiles are always resolved per GPU.

Usable GiB per profile: ``nvidia-smi mig -lgip`` figures where we have them (A100-40GB,
A100-80GB, H100-80GB); elsewhere the H100-80GB fraction of the whole GPU per slot count, which is
what the same slot geometry gives. ``GpuSpec.memory_gib`` is the memory a CUDA process sees on
the whole GPU (measured for A100/H100-80GB; nvidia-smi totals elsewhere).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class MigProfile:
    """One GPU-instance profile on one GPU model."""

    name: str
    compute_slices: int
    memory_slices: int
    memory_gib: float
    starts: tuple[int, ...]
    max_count: int

    @property
    def resource_name(self) -> str:
        """Extended resource under the device plugin's ``mixed`` strategy."""
        return "nvidia.com/mig-" + self.name.replace("+", ".")

    @property
    def media_extensions(self) -> bool:
        """``+me`` profiles carry the GPU's media engines; at most one per GPU."""
        return self.name.endswith("+me")


@dataclass(frozen=True)
class GpuSpec:
    """Facts about one GPU model that placement and rendering need."""

    name: str
    memory_gib: float
    family: str
    nvlink: bool
    nvlink_gbps: float | None
    gfd_product: str
    pci_ids: tuple[str, ...]
    mig_profiles: Mapping[str, MigProfile]
    memory_slots: int
    compute_slots: int

    def __hash__(self) -> int:
        # The profile mapping is read-only but not hashable itself; hash its items instead.
        return hash((self.name, self.memory_gib, tuple(sorted(self.mig_profiles.items()))))

    @property
    def mig_capable(self) -> bool:
        return bool(self.mig_profiles)

    def profile(self, name: str) -> MigProfile | None:
        return self.mig_profiles.get(name)


# Allowed start slots per (compute, memory) shape on 8-slot GPUs. ``-lgipp`` prints the same
# table on A100-40GB (MIG guide) and H100 NVL (Colfax); assumed for the other 8-slot GPUs.
_STARTS_8 = {
    (1, 1): (0, 1, 2, 3, 4, 5, 6),  # slot 7 is never a start: seven 1g leave it idle
    (1, 2): (0, 2, 4, 6),
    (2, 2): (0, 2, 4),
    (3, 4): (0, 4),
    (4, 4): (0,),
    (7, 8): (0,),
}
# A30 (4 slots, 4 compute slices); placements from NVIDIA's NVML mock, inferred.
_STARTS_4 = {(1, 1): (0, 1, 2, 3), (2, 2): (0, 2), (4, 4): (0,)}
# H100-80GB measured usable fraction of the whole GPU per memory-slot count (-lgip / total).
_H100_FRACTION = {1: 9.75 / 79.65, 2: 19.62 / 79.65, 4: 39.50 / 79.65, 8: 79.25 / 79.65}
_A30_FRACTION = {1: 0.2475, 2: 0.495, 4: 0.99}


def _mig_table(
    labels: Mapping[tuple[int, int], str],
    total_gib: float,
    measured: Mapping[tuple[int, int], float] | None = None,
    *,
    four_slot: bool = False,
) -> Mapping[str, MigProfile]:
    """Profiles from shape → name; ``+me`` variants exist for 1-slot (and A30 2g) shapes."""
    starts = _STARTS_4 if four_slot else _STARTS_8
    fraction = _A30_FRACTION if four_slot else _H100_FRACTION
    out: dict[str, MigProfile] = {}
    for shape, name in labels.items():
        compute, memory = shape
        gib = (measured or {}).get(shape, round(total_gib * fraction[memory], 2))
        # The allowed starts are spaced by the profile size, so the count limit equals them.
        out[name] = MigProfile(name, compute, memory, gib, starts[shape], len(starts[shape]))
        media = shape == (1, 1) or (four_slot and shape == (2, 2))
        if media:
            me = name + "+me"
            out[me] = MigProfile(me, compute, memory, gib, starts[shape], 1)
    return MappingProxyType(out)


def _names_8(small: str, double: str, half: str, full: str) -> dict[tuple[int, int], str]:
    """Profile names on an 8-slot GPU from its four memory sizes (per slot, 2, 4, 8 slots)."""
    return {
        (1, 1): f"1g.{small}gb",
        (1, 2): f"1g.{double}gb",
        (2, 2): f"2g.{double}gb",
        (3, 4): f"3g.{half}gb",
        (4, 4): f"4g.{half}gb",
        (7, 8): f"7g.{full}gb",
    }


def _spec(
    name: str,
    memory_gib: float,
    family: str,
    nvlink_gbps: float | None,
    gfd_product: str,
    pci_ids: tuple[str, ...],
    profiles: Mapping[str, MigProfile],
    slots: int = 8,
) -> GpuSpec:
    compute = 0 if not profiles else (4 if slots == 4 else 7)
    memory_slots = slots if profiles else 0
    return GpuSpec(
        name=name,
        memory_gib=memory_gib,
        family=family,
        nvlink=nvlink_gbps is not None,
        nvlink_gbps=nvlink_gbps,
        gfd_product=gfd_product,
        pci_ids=pci_ids,
        mig_profiles=profiles,
        memory_slots=memory_slots,
        compute_slots=compute,
    )


_NO_MIG: Mapping[str, MigProfile] = MappingProxyType({})

_A100_40_MEASURED = {(1, 1): 4.75, (1, 2): 9.75, (2, 2): 9.75, (3, 4): 19.62, (4, 4): 19.62}
_A100_80_MEASURED = {(1, 1): 9.50, (1, 2): 19.50, (2, 2): 19.50, (3, 4): 39.25, (4, 4): 39.25}
_A100_80_MEASURED[(7, 8)] = 78.75  # -lgip shows 78.75-79.25 across drivers; take the lower
_H100_80_MEASURED = {(1, 1): 9.75, (1, 2): 19.62, (2, 2): 19.62, (3, 4): 39.50, (4, 4): 39.50}
_H100_80_MEASURED[(7, 8)] = 79.25

# NVLink figures are per-GPU bidirectional bandwidth of the SXM parts (GB/s).
_CATALOG: tuple[GpuSpec, ...] = (
    _spec(
        "A100-40GB",
        39.59,
        "ampere",
        600.0,
        "NVIDIA-A100-SXM4-40GB",
        ("0x20B010DE", "0x20B110DE", "0x20F110DE", "0x20F610DE"),
        _mig_table(_names_8("5", "10", "20", "40"), 39.5, {**_A100_40_MEASURED, (7, 8): 39.5}),
    ),
    _spec(
        "A100-80GB",
        79.15,
        "ampere",
        600.0,
        "NVIDIA-A100-SXM4-80GB",
        ("0x20B210DE", "0x20B510DE", "0x20F310DE", "0x20F510DE"),
        _mig_table(_names_8("10", "20", "40", "80"), 79.15, _A100_80_MEASURED),
    ),
    _spec(
        "H100-80GB",
        79.18,
        "hopper",
        900.0,
        "NVIDIA-H100-80GB-HBM3",
        ("0x233010DE", "0x233110DE", "0x232210DE", "0x232410DE"),
        _mig_table(_names_8("10", "20", "40", "80"), 79.65, _H100_80_MEASURED),
    ),
    _spec(
        "H100-94GB-NVL",
        93.58,
        "hopper",
        600.0,
        "NVIDIA-H100-NVL",
        ("0x232110DE", "0x233A10DE"),
        _mig_table(_names_8("12", "24", "47", "94"), 93.58),
    ),
    _spec(
        "H200-141GB",
        140.4,
        "hopper",
        900.0,
        "NVIDIA-H200",
        ("0x233510DE", "0x233B10DE"),
        _mig_table(_names_8("18", "35", "71", "141"), 140.4),
    ),
    _spec(
        "GH200-96GB",
        95.58,
        "hopper",
        900.0,
        "NVIDIA-GH200-480GB",
        ("0x234210DE",),
        _mig_table(_names_8("12", "24", "48", "96"), 95.58),
    ),
    _spec(
        "GH200-144GB",
        143.0,
        "hopper",
        900.0,
        "NVIDIA-GH200-144G-HBM3e",
        ("0x234810DE",),
        _mig_table(_names_8("18", "36", "72", "144"), 143.0),
    ),
    _spec(
        "B200-180GB",
        179.06,
        "blackwell",
        1800.0,
        "NVIDIA-B200",
        ("0x290110DE",),
        _mig_table(_names_8("23", "45", "90", "180"), 179.06),
    ),
    _spec(
        "A30-24GB",
        23.69,
        "ampere",
        200.0,
        "NVIDIA-A30",
        ("0x20B710DE",),
        _mig_table({(1, 1): "1g.6gb", (2, 2): "2g.12gb", (4, 4): "4g.24gb"}, 23.69, four_slot=True),
        slots=4,
    ),
    _spec("L4-24GB", 22.49, "ada-lovelace", None, "NVIDIA-L4", ("0x27B810DE",), _NO_MIG),
    _spec("L40S-48GB", 44.99, "ada-lovelace", None, "NVIDIA-L40S", ("0x26B910DE",), _NO_MIG),
)

_BY_NAME: Mapping[str, GpuSpec] = MappingProxyType({g.name: g for g in _CATALOG})

# Spellings people use that the normalised canonical name would not match by itself.
_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "A100-SXM4-40GB": "A100-40GB",
        "A100-PCIE-40GB": "A100-40GB",
        "A100-SXM4-80GB": "A100-80GB",
        "A100-PCIE-80GB": "A100-80GB",
        "H100": "H100-80GB",
        "H100-SXM": "H100-80GB",
        "H100-SXM5-80GB": "H100-80GB",
        "H100-PCIE": "H100-80GB",
        "H100-80GB-HBM3": "H100-80GB",
        "H100-NVL": "H100-94GB-NVL",
        "H100-94GB": "H100-94GB-NVL",
        "H100-NVL-94GB": "H100-94GB-NVL",
        "H200": "H200-141GB",
        "H200-NVL": "H200-141GB",
        "GH200": "GH200-96GB",
        "GH200-480GB": "GH200-96GB",
        "GH200-144G-HBM3E": "GH200-144GB",
        "B200": "B200-180GB",
        "A30": "A30-24GB",
        "L4": "L4-24GB",
        "L40S": "L40S-48GB",
    }
)


def normalise_gpu_name(name: str) -> str:
    """Upper-case, ``-``-separated, without an ``NVIDIA`` prefix: ``"h100 nvl"`` → ``H100-NVL``."""
    text = re.sub(r"[\s_]+", "-", name.strip()).upper()
    text = re.sub(r"^NVIDIA-?", "", text)
    return re.sub(r"-+", "-", text).strip("-")


def _lookup_table() -> Mapping[str, str]:
    table: dict[str, str] = {}
    for spec in _CATALOG:
        table[normalise_gpu_name(spec.name)] = spec.name
        table[normalise_gpu_name(spec.gfd_product)] = spec.name
        for pci in spec.pci_ids:
            table[normalise_gpu_name(pci)] = spec.name
    for alias, canonical in _ALIASES.items():
        table[normalise_gpu_name(alias)] = canonical
    return MappingProxyType(table)


_LOOKUP = _lookup_table()


def canonical_gpu_name(name: str) -> str | None:
    """The catalog's spelling for ``name`` (any accepted alias), or None if unknown."""
    return _LOOKUP.get(normalise_gpu_name(name))


def get_gpu(name: str) -> GpuSpec | None:
    """The GPU called ``name`` (canonical or alias), or None."""
    canonical = canonical_gpu_name(name)
    return _BY_NAME[canonical] if canonical else None


def gpu_names() -> list[str]:
    """Canonical names, in catalog order."""
    return [g.name for g in _CATALOG]
