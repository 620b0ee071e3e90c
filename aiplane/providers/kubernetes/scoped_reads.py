"""Reads inside the stack's namespaces: one LIST per kind per namespace, never cluster-wide for
a namespaced kind, so a namespace admin can plan (``rbac`` documents the permissions)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aiplane.providers.kubernetes.client import KubeClient
from aiplane.providers.kubernetes.desired import Desired
from aiplane.providers.kubernetes.objects import Manifest

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


NAMES_LIST_FROM = 8
"""Objects of one kind in one namespace that the label LIST did not find, from which one LIST of
the names there is cheaper than a GET each (a first apply of 1,000 models sent 5,000 GETs that
all answered 404)."""
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"


def unlisted_objects(client: KubeClient, missing: Sequence[Desired]) -> list[Manifest | None]:
    """The live object (or None) for each desired one the label LIST did not find: absent, or
    another owner's, which plan must see to refuse it. One GET each, except where many of one
    kind in one namespace are missing: the names there come first (metadata only), and only
    the names that exist are read."""
    groups: dict[ListCall, list[Desired]] = {}
    for d in missing:
        groups.setdefault((d.ref.api_version, d.ref.kind, d.ref.namespace or None), []).append(d)
    big = [call for call, members in groups.items() if len(members) >= NAMES_LIST_FROM]
    names = dict(zip(big, client.map(lambda call: _names(client, call), big), strict=True))

    def exists(d: Desired) -> bool:
        there = names.get((d.ref.api_version, d.ref.kind, d.ref.namespace or None))
        return there is None or d.ref.name in there

    reads = [d for d in missing if exists(d)]
    found = dict(zip((d.ref for d in reads), client.map(lambda d: _get(client, d), reads),
                     strict=True))  # fmt: skip
    return [found.get(d.ref) for d in missing]


def _names(client: KubeClient, call: ListCall) -> set[str]:
    api_version, kind, namespace = call
    res = client.must_resource(api_version, kind)
    doc = client.request("GET", res.path(namespace), accept=METADATA_ONLY) or {}
    return {str((item.get("metadata") or {}).get("name")) for item in doc.get("items") or []}


def _get(client: KubeClient, d: Desired) -> Manifest | None:
    r = d.ref
    return client.get(r.api_version, r.kind, r.name, r.namespace or None)
