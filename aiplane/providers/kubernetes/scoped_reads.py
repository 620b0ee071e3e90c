"""Reads inside the stack's namespaces: one LIST per kind per namespace, never cluster-wide for
a namespaced kind, so a namespace admin can plan (``rbac`` documents the permissions)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aiplane.providers.kubernetes.client import KubeClient
from aiplane.providers.kubernetes.desired import Desired

ListCall = tuple[str, str, str | None]  # apiVersion, kind, namespace (None: cluster-scoped)


def scoped_lists(
    client: KubeClient,
    kinds: Iterable[tuple[str, str]],
    desired: Sequence[Desired],
    namespaces: Iterable[str] = (),
) -> list[ListCall]:
    """The LISTs that find every member: per namespace for namespaced kinds."""
    where = sorted({d.ref.namespace for d in desired if d.ref.namespace} | set(namespaces))
    calls: list[ListCall] = []
    for api_version, kind in kinds:
        res = client.resource(api_version, kind)
        if res is not None and res.namespaced:
            calls += [(api_version, kind, ns) for ns in where if ns]
        else:
            calls.append((api_version, kind, None))
    return calls
