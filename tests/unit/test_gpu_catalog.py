"""GPU catalog: names, aliases, MIG profile shapes per GPU."""

from __future__ import annotations

import pytest

from aiplane.gpu.catalog import get_gpu, gpu_names


def test_catalog_has_the_documented_gpus() -> None:
    assert gpu_names() == [
        "A100-40GB",
        "A100-80GB",
        "H100-80GB",
        "H100-94GB-NVL",
        "H200-141GB",
        "GH200-96GB",
        "GH200-144GB",
        "B200-180GB",
        "A30-24GB",
        "L4-24GB",
        "L40S-48GB",
    ]


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("H100-94GB NVL", "H100-94GB-NVL"),
        ("h100 nvl", "H100-94GB-NVL"),
        ("NVIDIA H100 80GB HBM3", "H100-80GB"),
        ("NVIDIA-A100-SXM4-80GB", "A100-80GB"),
        ("a100_40gb", "A100-40GB"),
        ("0x233010DE", "H100-80GB"),
        ("0x20b710de", "A30-24GB"),
        ("L4", "L4-24GB"),
        ("l40s", "L40S-48GB"),
        ("GH200", "GH200-96GB"),
        ("B200", "B200-180GB"),
        ("H200", "H200-141GB"),
    ],
)
def test_aliases_resolve(alias: str, canonical: str) -> None:
    spec = get_gpu(alias)
    assert spec is not None and spec.name == canonical


def test_ambiguous_or_unknown_names_do_not_resolve() -> None:
    assert get_gpu("A100") is None  # 40GB or 80GB: the user must say
    assert get_gpu("T4") is None


def test_1g_10gb_differs_between_a100_40gb_and_80gb() -> None:
    small = get_gpu("A100-40GB")
    big = get_gpu("A100-80GB")
    assert small is not None and big is not None
    assert small.mig_profiles["1g.10gb"].memory_slices == 2
    assert small.mig_profiles["1g.10gb"].max_count == 4
    assert big.mig_profiles["1g.10gb"].memory_slices == 1
    assert big.mig_profiles["1g.10gb"].max_count == 7


def test_h100_80gb_profiles_match_nvidia_smi() -> None:
    spec = get_gpu("H100-80GB")
    assert spec is not None
    shapes = {
        name: (p.compute_slices, p.memory_slices, p.starts, p.max_count, p.memory_gib)
        for name, p in spec.mig_profiles.items()
    }
    assert shapes == {
        "1g.10gb": (1, 1, (0, 1, 2, 3, 4, 5, 6), 7, 9.75),
        "1g.10gb+me": (1, 1, (0, 1, 2, 3, 4, 5, 6), 1, 9.75),
        "1g.20gb": (1, 2, (0, 2, 4, 6), 4, 19.62),
        "2g.20gb": (2, 2, (0, 2, 4), 3, 19.62),
        "3g.40gb": (3, 4, (0, 4), 2, 39.5),
        "4g.40gb": (4, 4, (0,), 1, 39.5),
        "7g.80gb": (7, 8, (0,), 1, 79.25),
    }
    assert (spec.memory_slots, spec.compute_slots) == (8, 7)


def test_a30_has_four_slots_and_non_mig_gpus_have_none() -> None:
    a30 = get_gpu("A30")
    assert a30 is not None and (a30.memory_slots, a30.compute_slots) == (4, 4)
    assert set(a30.mig_profiles) == {"1g.6gb", "1g.6gb+me", "2g.12gb", "2g.12gb+me", "4g.24gb"}
    for name in ("L4", "L40S"):
        spec = get_gpu(name)
        assert spec is not None and not spec.mig_capable and spec.compute_slots == 0


def test_profile_names_per_gpu() -> None:
    expected = {
        "H100-94GB-NVL": "3g.47gb",
        "H200-141GB": "3g.71gb",
        "GH200-96GB": "3g.48gb",
        "GH200-144GB": "3g.72gb",
        "B200-180GB": "3g.90gb",
    }
    for gpu, profile in expected.items():
        spec = get_gpu(gpu)
        assert spec is not None and profile in spec.mig_profiles


def test_resource_name_replaces_plus() -> None:
    spec = get_gpu("H100-80GB")
    assert spec is not None
    assert spec.mig_profiles["1g.10gb+me"].resource_name == "nvidia.com/mig-1g.10gb.me"
    assert spec.mig_profiles["3g.40gb"].resource_name == "nvidia.com/mig-3g.40gb"


def test_profile_memory_grows_with_slots_and_stays_under_the_gpu() -> None:
    for name in gpu_names():
        spec = get_gpu(name)
        assert spec is not None
        for profile in spec.mig_profiles.values():
            assert 0 < profile.memory_gib <= spec.memory_gib + 0.5
            assert all(s + profile.memory_slices <= spec.memory_slots for s in profile.starts)


def test_specs_are_hashable_and_pci_ids_unique() -> None:
    specs = [get_gpu(n) for n in gpu_names()]
    assert len({hash(s) for s in specs}) == len(specs)
    ids = [pci for s in specs if s for pci in s.pci_ids]
    assert len(ids) == len(set(ids))
