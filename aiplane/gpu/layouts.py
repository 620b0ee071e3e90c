"""Which multisets of MIG profiles fit one GPU, and where each instance goes.

The rule NVML enforces (MIG User Guide; ``nvmlDeviceGetGpuInstancePossiblePlacements``): every
GPU instance occupies the memory slots ``[start, start + memory_slices)`` for one of its profile's
allowed starts, the slot ranges of all instances are pairwise disjoint, compute slices sum to at
most the GPU's compute slots, and per-profile limits (``+me`` at most once) hold.

Layouts are never hand-listed: ``enumerate_layouts`` walks the memory slots and tries every
profile at every allowed start, so the set follows from the catalog's starts alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from types import MappingProxyType

from aiplane.gpu.catalog import GpuSpec, MigProfile

Placement = tuple[tuple[str, int], ...]


def _profile_order(profile: MigProfile) -> tuple[int, int, str]:
    """Bigger instances first: they have fewer starts, so backtracking prunes early."""
    return (-profile.memory_slices, -profile.compute_slices, profile.name)


def describe_layout(gpu: GpuSpec, counts: Mapping[str, int]) -> str:
    """``3g.40gb ×2 + 1g.10gb ×1``: profiles largest first, zero counts dropped."""
    items = [(n, c) for n, c in counts.items() if c]

    def key(item: tuple[str, int]) -> tuple[int, int, str]:
        profile = gpu.mig_profiles.get(item[0])
        return _profile_order(profile) if profile else (0, 0, item[0])

    return " + ".join(f"{name} ×{count}" for name, count in sorted(items, key=key)) or "(empty)"


def _count_problem(gpu: GpuSpec, counts: Mapping[str, int]) -> str | None:
    """Unknown profiles, negative counts and per-profile limits."""
    if not gpu.mig_capable:
        return f"{gpu.name} does not support MIG"
    for name, count in sorted(counts.items()):
        profile = gpu.mig_profiles.get(name)
        if profile is None:
            known = ", ".join(sorted(gpu.mig_profiles))
            return f"{name}: not a MIG profile of {gpu.name} (profiles: {known})"
        if count < 0:
            return f"{name}: count must not be negative (got {count})"
        if count > profile.max_count:
            return f"{name} ×{count}: at most {profile.max_count} per {gpu.name}"
    return None


def _search(
    items: list[MigProfile], used: list[bool], chosen: list[tuple[str, int]]
) -> Placement | None:
    """Depth-first over instances (largest first) and their starts (ascending)."""
    if len(chosen) == len(items):
        return tuple(sorted(chosen, key=lambda p: (p[1], p[0])))
    profile = items[len(chosen)]
    # Identical instances take increasing starts, so permutations are not re-explored.
    previous = items[len(chosen) - 1] if chosen else None
    lowest = chosen[-1][1] + 1 if previous is not None and previous.name == profile.name else 0
    for start in profile.starts:
        span = range(start, start + profile.memory_slices)
        if start < lowest or span.stop > len(used) or any(used[s] for s in span):
            continue
        for s in span:
            used[s] = True
        chosen.append((profile.name, start))
        found = _search(items, used, chosen)
        chosen.pop()
        for s in span:
            used[s] = False
        if found is not None:
            return found
    return None


def place_layout(gpu: GpuSpec, counts: Mapping[str, int]) -> Placement | None:
    """One concrete placement ``((profile, start slot), ...)`` sorted by start, or None."""
    if _count_problem(gpu, counts) is not None:
        return None
    return _place_cached(gpu, _key(counts))


def _key(counts: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((n, c) for n, c in counts.items() if c))


@lru_cache(maxsize=4096)
def _place_cached(gpu: GpuSpec, key: tuple[tuple[str, int], ...]) -> Placement | None:
    profiles = [gpu.mig_profiles[name] for name, count in key for _ in range(count)]
    if sum(p.compute_slices for p in profiles) > gpu.compute_slots:
        return None
    if sum(p.memory_slices for p in profiles) > gpu.memory_slots:
        return None
    profiles.sort(key=_profile_order)
    return _search(profiles, [False] * gpu.memory_slots, [])


def check_layout(gpu: GpuSpec, counts: Mapping[str, int]) -> str | None:
    """None when the multiset fits one GPU, else the first reason it does not."""
    problem = _count_problem(gpu, counts)
    if problem is not None:
        return problem
    what = describe_layout(gpu, counts)
    compute = sum(gpu.mig_profiles[n].compute_slices * c for n, c in counts.items())
    if compute > gpu.compute_slots:
        return f"{what} needs {compute} of {gpu.compute_slots} compute slices"
    memory = sum(gpu.mig_profiles[n].memory_slices * c for n, c in counts.items())
    if memory > gpu.memory_slots:
        return f"{what} needs {memory} of {gpu.memory_slots} memory slices"
    if _place_cached(gpu, _key(counts)) is None:
        return f"{what}: no placement at the allowed start slots ({_starts_text(gpu, counts)})"
    return None


def _starts_text(gpu: GpuSpec, counts: Mapping[str, int]) -> str:
    parts = []
    for name in sorted(n for n, c in counts.items() if c):
        starts = ",".join(str(s) for s in gpu.mig_profiles[name].starts)
        parts.append(f"{name} starts at {starts}")
    return "; ".join(parts)


def enumerate_layouts(
    gpu: GpuSpec, *, maximal: bool = False, include_media: bool = False
) -> list[Mapping[str, int]]:
    """Every valid non-empty multiset of profiles on ``gpu`` (or only the maximal ones).

    Maximal = no further instance fits. A GPU-minimising planner needs only maximal layouts:
    any GPU's instances are a sub-multiset of some maximal layout. ``+me`` profiles are left out
    unless ``include_media``: they are requested explicitly, never chosen for packing.
    Order: descending compute used, then memory used, then the description — deterministic.
    """
    return [dict(layout) for layout in _enumerate_cached(gpu, maximal, include_media)]


@lru_cache(maxsize=64)
def _enumerate_cached(
    gpu: GpuSpec, maximal: bool, include_media: bool
) -> tuple[Mapping[str, int], ...]:
    profiles = [p for p in gpu.mig_profiles.values() if include_media or not p.media_extensions]
    found: set[tuple[tuple[str, int], ...]] = set()
    _walk(gpu, sorted(profiles, key=_profile_order), 0, [], found)
    valid = {k for k in found if k and check_layout(gpu, dict(k)) is None}
    if maximal:
        valid = {k for k in valid if not _extendable(gpu, k, profiles, valid)}
    layouts = [MappingProxyType(dict(k)) for k in valid]
    return tuple(sorted(layouts, key=lambda layout: _layout_order(gpu, layout)))


def _walk(
    gpu: GpuSpec,
    profiles: list[MigProfile],
    slot: int,
    placed: list[MigProfile],
    found: set[tuple[tuple[str, int], ...]],
) -> None:
    """At each memory slot either leave it idle or start an instance there."""
    if slot >= gpu.memory_slots:
        found.add(_key(_counts(placed)))
        return
    _walk(gpu, profiles, slot + 1, placed, found)
    for profile in profiles:
        if slot in profile.starts and slot + profile.memory_slices <= gpu.memory_slots:
            placed.append(profile)
            _walk(gpu, profiles, slot + profile.memory_slices, placed, found)
            placed.pop()


def _counts(profiles: Iterable[MigProfile]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for profile in profiles:
        counts[profile.name] = counts.get(profile.name, 0) + 1
    return counts


def _extendable(
    gpu: GpuSpec,
    key: tuple[tuple[str, int], ...],
    profiles: list[MigProfile],
    valid: set[tuple[tuple[str, int], ...]],
) -> bool:
    for profile in profiles:
        bigger = dict(key)
        bigger[profile.name] = bigger.get(profile.name, 0) + 1
        if _key(bigger) in valid:
            return True
    return False


def _layout_order(gpu: GpuSpec, layout: Mapping[str, int]) -> tuple[int, int, str]:
    compute = sum(gpu.mig_profiles[n].compute_slices * c for n, c in layout.items())
    memory = sum(gpu.mig_profiles[n].memory_slices * c for n, c in layout.items())
    return (-compute, -memory, describe_layout(gpu, layout))
