"""MIG placement rules against NVIDIA's documented valid and invalid combinations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiplane.gpu.catalog import GpuSpec, MigProfile, get_gpu, gpu_names
from aiplane.gpu.layouts import check_layout, enumerate_layouts, place_layout


def _gpu(name: str) -> GpuSpec:
    spec = get_gpu(name)
    assert spec is not None
    return spec


H100 = _gpu("H100-80GB")
A100_40 = _gpu("A100-40GB")


def _valid_placement(gpu: GpuSpec, placement: tuple[tuple[str, int], ...]) -> bool:
    used: set[int] = set()
    for name, start in placement:
        profile = gpu.mig_profiles[name]
        span = set(range(start, start + profile.memory_slices))
        if start not in profile.starts or used & span or max(span) >= gpu.memory_slots:
            return False
        used |= span
    compute = sum(gpu.mig_profiles[n].compute_slices for n, _ in placement)
    return compute <= gpu.compute_slots


@pytest.mark.parametrize(
    "counts",
    [
        {"4g.40gb": 1, "3g.40gb": 1},
        {"3g.40gb": 2},
        {"3g.40gb": 1, "2g.20gb": 2},
        {"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2},
        {"4g.40gb": 1, "2g.20gb": 1, "1g.10gb": 1},
        {"2g.20gb": 3, "1g.10gb": 1},
        {"1g.10gb": 7},
        {"1g.20gb": 4},
        {"7g.80gb": 1},
        {"1g.10gb+me": 1, "1g.10gb": 6},
    ],
)
def test_documented_valid_combinations(counts: Mapping[str, int]) -> None:
    assert check_layout(H100, counts) is None
    placement = place_layout(H100, counts)
    assert placement is not None and _valid_placement(H100, placement)


@pytest.mark.parametrize(
    ("counts", "reason"),
    [
        ({"2g.20gb": 3, "1g.10gb": 2}, "2g.20gb ×3 + 1g.10gb ×2 needs 8 of 7 compute slices"),
        ({"3g.40gb": 2, "1g.10gb": 1}, "3g.40gb ×2 + 1g.10gb ×1 needs 9 of 8 memory slices"),
        ({"7g.80gb": 1, "1g.10gb": 1}, "7g.80gb ×1 + 1g.10gb ×1 needs 8 of 7 compute slices"),
        ({"4g.40gb": 2}, "4g.40gb ×2: at most 1 per H100-80GB"),
        ({"1g.10gb+me": 2}, "1g.10gb+me ×2: at most 1 per H100-80GB"),
        ({"1g.10gb": 8}, "1g.10gb ×8: at most 7 per H100-80GB"),
    ],
)
def test_documented_invalid_combinations(counts: Mapping[str, int], reason: str) -> None:
    assert check_layout(H100, counts) == reason
    assert place_layout(H100, counts) is None


def test_4g_only_at_slot_0() -> None:
    assert place_layout(H100, {"4g.40gb": 1}) == (("4g.40gb", 0),)
    assert H100.mig_profiles["4g.40gb"].starts == (0,)
    assert place_layout(H100, {"4g.40gb": 1, "3g.40gb": 1}) == (("4g.40gb", 0), ("3g.40gb", 4))


def test_seven_1g_leave_memory_slot_7_idle() -> None:
    placement = place_layout(H100, {"1g.10gb": 7})
    assert placement is not None
    assert sorted(start for _, start in placement) == [0, 1, 2, 3, 4, 5, 6]


def test_placement_only_failure_is_explained() -> None:
    # On NVIDIA's geometries the count, compute and memory checks already catch every invalid
    # multiset, so exercise the start-slot search on a made-up GPU.
    profiles = {
        "wide": MigProfile("wide", 1, 2, 10.0, (0,), 1),
        "thin": MigProfile("thin", 1, 1, 5.0, (0, 1), 2),
    }
    gpu = replace(H100, name="toy", mig_profiles=profiles)
    reason = check_layout(gpu, {"wide": 1, "thin": 1})
    assert reason == (
        "wide ×1 + thin ×1: no placement at the allowed start slots "
        "(thin starts at 0,1; wide starts at 0)"
    )
    assert place_layout(gpu, {"thin": 2}) == (("thin", 0), ("thin", 1))


def test_unknown_profile_and_non_mig_gpu() -> None:
    reason = check_layout(A100_40, {"1g.20gb": 1})
    assert reason is not None and reason.startswith("1g.20gb: not a MIG profile of A100-40GB")
    assert check_layout(_gpu("L4"), {"1g.10gb": 1}) == "L4-24GB does not support MIG"
    assert check_layout(H100, {"1g.10gb": -1}) == "1g.10gb: count must not be negative (got -1)"


def test_a100_40gb_1g_10gb_is_two_slots() -> None:
    assert check_layout(A100_40, {"1g.10gb": 4}) is None
    assert check_layout(A100_40, {"1g.10gb": 4, "1g.5gb": 1}) is not None


def test_layout_counts_follow_from_the_rule() -> None:
    assert len(enumerate_layouts(H100)) == 77
    assert len(enumerate_layouts(H100, maximal=True)) == 28
    assert len(enumerate_layouts(A100_40, maximal=True)) == 28
    assert enumerate_layouts(_gpu("A30"), maximal=True) == [
        {"1g.6gb": 4},
        {"2g.12gb": 1, "1g.6gb": 2},
        {"2g.12gb": 2},
        {"4g.24gb": 1},
    ]
    assert enumerate_layouts(_gpu("L40S")) == []


def test_every_enumerated_layout_is_valid_and_placeable() -> None:
    for name in gpu_names():
        gpu = _gpu(name)
        for layout in enumerate_layouts(gpu, include_media=True):
            assert check_layout(gpu, layout) is None
            placement = place_layout(gpu, layout)
            assert placement is not None and _valid_placement(gpu, placement)


def test_enumeration_is_deterministic() -> None:
    assert enumerate_layouts(H100) == enumerate_layouts(H100)
    assert enumerate_layouts(H100, maximal=True)[0] == {"1g.20gb": 1, "1g.10gb": 6}


_H100_PROFILES = sorted(p for p in H100.mig_profiles if not p.endswith("+me"))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(_H100_PROFILES), st.integers(0, 4), max_size=4))
def test_check_and_place_agree(counts: dict[str, int]) -> None:
    reason = check_layout(H100, counts)
    placement = place_layout(H100, counts)
    assert (reason is None) == (placement is not None)
    if placement is not None:
        assert _valid_placement(H100, placement)
        assert sorted(n for n, _ in placement) == sorted(
            n for n, c in counts.items() for _ in range(c)
        )
        valid = {tuple(sorted(x.items())) for x in enumerate_layouts(H100)}
        nonzero = tuple(sorted((n, c) for n, c in counts.items() if c))
        assert not nonzero or nonzero in valid
