"""Objects the stack wants only where their kind is served (``aiplane.dev/only-if-served``).

The renderer marks such objects (a PodMonitor needs the Prometheus Operator's CRD); plan and
apply leave them out where discovery does not list the kind, and say so, instead of failing.
The annotation name is the renderer's (``render/vllm_extras.py``): render stays free of cluster
code, so the string is written in both places.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiplane.providers.kubernetes.client import KubeClient
from aiplane.providers.kubernetes.objects import Manifest, ref_of

ONLY_IF_SERVED = "aiplane.dev/only-if-served"


def served_only(
    client: KubeClient, manifests: Sequence[Manifest]
) -> tuple[list[Manifest], list[str]]:
    """The manifests to plan, and a note per object left out."""
    keep: list[Manifest] = []
    notes: list[str] = []
    for m in manifests:
        anns = (m.get("metadata") or {}).get("annotations") or {}
        api_version, kind = str(m.get("apiVersion", "")), str(m.get("kind", ""))
        if anns.get(ONLY_IF_SERVED) == "true" and client.resource(api_version, kind) is None:
            notes.append(f"{ref_of(m)}: left out: the cluster does not serve {api_version} {kind}")
            continue
        keep.append(m)
    return keep, notes
