"""Traffic weights in stack terms, carried on the route objects that split traffic.

Gateway weights are relative numbers over backend names (``llama-70b-canary: 100`` of 10000);
a reviewer thinks in versions and percents. Each weighted route object therefore carries
``aiplane.dev/weights: "v2.0=90,v2.1=10"`` (model routes) or ``"openai=70,local-llama v2.0=9,..."``
(stack routes): percent of that route's traffic per stack term. When weights change, this
annotation changes with them, and the plan summary reads it (``v2.0 90 -> 75 %``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiplane.providers.kubernetes.labels import WEIGHTS_ANN
from aiplane.stack.models import StackSpec


def version_terms(spec: StackSpec, *, with_model: bool = False) -> dict[str, str]:
    """Stage Service name -> its deployed version (``llama-70b v2.1`` with ``with_model``)."""
    from aiplane.render.vllm import service_name

    return {
        service_name(m.name, d.stage): f"{m.name} {d.version}" if with_model else d.version
        for m in spec.models
        for d in m.deployments
    }


def weights_annotation(
    refs: Sequence[Mapping[str, Any]], terms: Mapping[str, str]
) -> dict[str, str]:
    """``{aiplane.dev/weights: "term=percent,..."}`` for weighted refs ({} when none weigh)."""
    weighted = [r for r in refs if int(r.get("weight") or 0) > 0 and not r.get("priority")]
    total = sum(int(r["weight"]) for r in weighted)
    if not total:
        return {}
    parts = [
        f"{terms.get(str(r['name']), str(r['name']))}={_percent(int(r['weight']) * 100 / total)}"
        for r in weighted
    ]
    return {WEIGHTS_ANN: ",".join(parts)}


def _percent(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")
