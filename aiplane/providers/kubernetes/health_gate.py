"""Health is part of the state: workloads that are not ready, whether or not this run changed them.

An apply that timed out, or was stopped by Ctrl-C or SIGTERM, leaves workloads rolling out; a rerun
that only looked at what it changes would see "no changes" and move traffic (routes, weights) onto
pods that are not ready. So before a stage proceeds, every workload of the earlier stages is
checked (Terraform's "tainted"), and plan shows the ones that are not ready.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiplane.providers.kubernetes.client import KubeClient
from aiplane.providers.kubernetes.health import CHECKS, fetch
from aiplane.providers.kubernetes.objects import ObjectRef

GATED_KINDS: frozenset[str] = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
"""Kinds whose pods serve traffic: what a later stage must not route to while not ready."""


def not_ready(ref: ObjectRef, obj: Mapping[str, Any] | None) -> str:
    """Why ``obj`` is not ready (``Deployment/ns/a: 0/1 ready, 0 updated since 14:02, rollout
    incomplete``), or "" when it is."""
    if obj is None:
        return f"{ref}: not found"
    healthy, detail = CHECKS[ref.kind](obj)
    if healthy:
        return ""
    return f"{ref}: {detail}{_since(obj)}, rollout incomplete"


def _since(obj: Mapping[str, Any]) -> str:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") in ("Available", "Progressing") and c.get("lastTransitionTime"):
            stamp = str(c["lastTransitionTime"])  # 2026-12-06T14:02:11Z
            return f" since {stamp[11:16]} UTC" if len(stamp) >= 16 else ""
    return ""


def unhealthy(
    client: KubeClient,
    refs: Sequence[ObjectRef],
    selector: str,
    *,
    timeout: float = 0,
    poll: float = 0.5,
) -> list[str]:
    """The workloads among ``refs`` that are not ready, each with its reason, after waiting up
    to ``timeout`` seconds for them (a rerun that comes while pods are starting goes on when they
    are ready; one whose pods cannot start stops)."""
    gated = [r for r in refs if r.kind in GATED_KINDS]
    deadline = time.monotonic() + timeout
    while gated:
        found = fetch(client, gated, selector)
        problems = [(r, why) for r, obj in zip(gated, found, strict=True)
                    if (why := not_ready(r, obj))]  # fmt: skip
        if not problems or time.monotonic() >= deadline:
            return [why for _, why in problems]
        gated = [r for r, _ in problems]
        time.sleep(poll)
    return []
