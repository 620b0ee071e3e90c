"""Reading a stack's objects: preflight, one LIST per kind by ApplySet label, GETs for the rest.

Reads are bounded to the stack: one LIST per kind (the kinds the stack renders plus those its
state records), inside the stack's namespaces where it has any, filtered by the ApplySet label;
then each rendered object the LIST did not return is read by name (``unlisted_objects``: many of
one kind in one namespace first by one LIST of the names there). Configured objects carry no
ApplySet label, so those the state records are read by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from aiplane.plan.address import Address
from aiplane.plan.state import Inventory
from aiplane.providers.base import Live, PlanError
from aiplane.providers.kubernetes.client import KubeClient
from aiplane.providers.kubernetes.desired import Desired, Key, key_of
from aiplane.providers.kubernetes.objects import Manifest, ObjectRef, group_kind_of, ref_of
from aiplane.providers.kubernetes.preflight import preflight
from aiplane.providers.kubernetes.scoped_reads import ListCall, scoped_lists, unlisted_objects
from aiplane.providers.kubernetes.shared_doc import MergeSpec

GROUP_KINDS, NAMESPACES = "group-kinds", "namespaces"
CONFIGURED = "configured"  # inventory: objects whose fields (only) this stack owns


def check_preflight(
    client: KubeClient, desired: Sequence[Desired], *, crds: Mapping[tuple[str, str], bool],
    created: set[str], stack_file: str,
) -> None:  # fmt: skip
    """Refuse, before any write, a stack whose APIs or namespaces the cluster lacks."""
    firsts: dict[tuple[str, str, str], str] = {}  # one check per kind and namespace
    for d in desired:
        firsts.setdefault((d.ref.api_version, d.ref.kind, d.ref.namespace), d.source)
    problems = preflight(
        [(*where, source) for where, source in firsts.items()],
        served=lambda api, kind: client.resource(api, kind) is not None,
        crds=crds,
        created_namespaces=created,
        namespace_exists=lambda ns: client.get("v1", "Namespace", ns) is not None,
        stack_file=stack_file or "<stack>",
    )
    if problems:
        raise PlanError(
            f"preflight: the cluster lacks {len(problems)} thing(s) this stack needs; "
            "nothing was planned or applied",
            problems,
        )


def _list(client: KubeClient, selector: str, call: ListCall) -> list[Manifest]:
    return client.list(call[0], call[1], label_selector=selector, namespace=call[2])


class Prefetch:
    """The stack's LISTs, started before its objects are prepared (labels, digests: a few hundred
    milliseconds at thousands of objects) so that the server answers meanwhile; the first read
    takes the answers. A LIST that failed raises there, as if read then."""

    def __init__(self, client: KubeClient, selector: str, calls: Sequence[ListCall]) -> None:
        pool = ThreadPoolExecutor(max_workers=max(1, min(client.concurrency, len(calls))))
        self._futures = {call: pool.submit(_list, client, selector, call) for call in calls}
        pool.shutdown(wait=False)  # the LISTs run on; nothing waits for them here

    def take(self, call: ListCall) -> Future[list[Manifest]] | None:
        """The LIST started for ``call`` (once: a later read asks the server again)."""
        return self._futures.pop(call, None)


def prefetch_calls(
    client: KubeClient, manifests: Sequence[Mapping[str, Any]], default_namespace: str
) -> list[ListCall]:
    """The LISTs ``read_live`` will make for these rendered manifests (before any state is read:
    the kinds and namespaces only the state records are listed by the read itself)."""
    kinds: dict[str, tuple[str, str]] = {}
    namespaces: set[str] = set()
    for m in manifests:
        api_version, kind = str(m.get("apiVersion", "")), str(m.get("kind", ""))
        res = client.resource(api_version, kind)
        if res is None:
            continue
        kinds.setdefault(group_kind_of(api_version, kind), (api_version, kind))
        if res.namespaced:
            namespaces.add(str((m.get("metadata") or {}).get("namespace") or default_namespace))
    return scoped_lists(client, kinds.values(), (), namespaces)


def read_live(
    client: KubeClient, selector: str, desired: Sequence[Desired], recorded: Inventory,
    configured: dict[Address, MergeSpec | None], prefetched: Prefetch | None = None,
) -> Live:  # fmt: skip
    """LIST every kind the stack uses or used (by label), then read the objects not found; the
    configured objects the state records join ``configured``."""
    served = _served_cache(client)
    kinds: dict[str, tuple[str, str]] = {}
    for d in desired:
        if served(d.ref.api_version, d.ref.kind):
            kinds.setdefault(d.ref.group_kind, (d.ref.api_version, d.ref.kind))
    for gk in recorded.get(GROUP_KINDS, ()):
        found = _resolve_group_kind(client, gk)
        if found:
            kinds.setdefault(gk, found)
    calls = scoped_lists(client, kinds.values(), desired, recorded.get(NAMESPACES, ()))
    started = [(call, prefetched.take(call) if prefetched else None) for call in calls]
    lists = client.map(  # per namespace: reads stay inside the stack's namespaces
        lambda k: _list(client, selector, k), [call for call, f in started if f is None]
    )
    lists += [f.result() for _, f in started if f is not None]
    members: dict[Key, tuple[Address, Manifest]] = {}
    for items in lists:
        for obj in items:
            ref = ref_of(obj)
            members[key_of(ref)] = (ref.address, obj)
    live = Live(members=dict(members.values()))
    missing = []
    for d in desired:
        member = members.get(d.key)
        if member is not None:
            live.objects[d.ref.address] = member[1]
        elif served(d.ref.api_version, d.ref.kind):
            missing.append(d)
    for d, got in zip(missing, unlisted_objects(client, missing), strict=True):
        if got is not None:
            live.objects[d.ref.address] = got
    _read_configured(client, recorded, live, configured)
    return live


def _served_cache(client: KubeClient) -> Callable[[str, str], bool]:
    """``client.resource(...) is not None``, asked once per kind (reads ask it per object)."""
    known: dict[tuple[str, str], bool] = {}

    def served(api_version: str, kind: str) -> bool:
        found = known.get((api_version, kind))
        if found is None:
            found = known[(api_version, kind)] = client.resource(api_version, kind) is not None
        return found

    return served


def _read_configured(
    client: KubeClient, recorded: Inventory, live: Live, configured: dict[Address, MergeSpec | None]
) -> None:
    for text in recorded.get(CONFIGURED, ()):
        ref, merge = recorded_ref(text)
        if ref is None or not client.resource(ref.api_version, ref.kind):
            continue
        configured.setdefault(ref.address, merge)
        obj = live.objects.get(ref.address) or _get(client, ref)
        if obj is not None:
            live.members[ref.address] = obj


def _get(client: KubeClient, r: ObjectRef) -> Manifest | None:
    return client.get(r.api_version, r.kind, r.name, r.namespace or None)


def _resolve_group_kind(client: KubeClient, gk: str) -> tuple[str, str] | None:
    kind, _, group = gk.partition(".")
    for version in client.group_versions(group):
        api_version = f"{group}/{version}" if group else version
        if client.resource(api_version, kind):
            return api_version, kind
    return None


def recorded_configured(ref: ObjectRef, merge: MergeSpec | None) -> str:
    """A configured object in the inventory (its shared document too: prune needs it)."""
    parts = [ref.api_version, ref.kind, ref.namespace, ref.name]
    if merge is not None:
        parts.append(f"{merge.key}:{merge.entries}")
    return "|".join(parts)


def recorded_ref(text: str) -> tuple[ObjectRef | None, MergeSpec | None]:
    """The inverse of ``recorded_configured`` ((None, None) for a line it did not write)."""
    parts = text.split("|")
    if len(parts) not in (4, 5):
        return None, None
    merge = MergeSpec.parse(parts[4]) if len(parts) == 5 else None
    return ObjectRef(*parts[:4]), merge
