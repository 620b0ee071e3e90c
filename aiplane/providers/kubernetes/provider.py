"""The Kubernetes provider: plan and apply API objects with server-side apply.

Reads are bounded to the stack: one LIST per kind with the ApplySet label selector (the kinds the
stack renders plus those its state records), then a GET for each rendered object the LIST did not
return. Objects provably unchanged (``fastpath``) cost no request; the rest get a server-side
apply dry-run, run concurrently. Fields other controllers own are expected drift (``drift``), never
sent. Deletes (prune, replace) carry the live uid as a precondition, so a re-created object is
never hit. ``decide`` turns what was observed into each ``Change``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from aiplane.errors import AiplaneError
from aiplane.plan.address import Address
from aiplane.plan.decide import Classify, decide
from aiplane.plan.diff import FieldDiff, diff_values
from aiplane.plan.model import (
    CHANGED_OUTSIDE,
    STAGES,
    Action,
    Change,
    Disruption,
    DriftNote,
    Pin,
    Stage,
)
from aiplane.plan.state import Inventory
from aiplane.providers.base import Live, PlanError, ProviderContext, Resource, Say, plan_each
from aiplane.providers.kubernetes.applyset import ApplySet
from aiplane.providers.kubernetes.client import ApiError, KubeClient, encode
from aiplane.providers.kubernetes.configured import ConfiguredObjects, MustReplace
from aiplane.providers.kubernetes.desired import Desired, crd_scopes, key_of, prepare
from aiplane.providers.kubernetes.diff import mask_diffs
from aiplane.providers.kubernetes.drift import (
    DriftRule,
    field_owners,
    match_rule,
    pinned_fingerprint,
    rules_for,
)
from aiplane.providers.kubernetes.fastpath import (
    Mismatch,
    compare,
    owned_fields,
    proves_unchanged,
    remove_at,
)
from aiplane.providers.kubernetes.health import timeout_for, wait_healthy
from aiplane.providers.kubernetes.health_gate import GATED_KINDS, not_ready, unhealthy
from aiplane.providers.kubernetes.kind_table import facts
from aiplane.providers.kubernetes.kinds import (
    disruption_of,
    immutable_reason,
    mig_refs_of,
)
from aiplane.providers.kubernetes.labels import PART_OF, SOURCE_ANN, SUBJECT_ANN
from aiplane.providers.kubernetes.live_read import (
    CONFIGURED,
    GROUP_KINDS,
    NAMESPACES,
    Prefetch,
    check_preflight,
    prefetch_calls,
    read_live,
    recorded_configured,
)
from aiplane.providers.kubernetes.objects import (
    Manifest,
    ObjectRef,
    annotation,
    label,
    shown_body,
    strip_server_fields,
)
from aiplane.providers.kubernetes.ownership import (
    NAMESPACE_CONTENT_KINDS,
    current_manager,
    is_configured,
    not_adopted,
    rendered_for,
    stack_field_manager,
    unowned_note,
)
from aiplane.providers.kubernetes.shared_doc import MergeSpec
from aiplane.secrets import Scrubber

FIELD_MANAGER = "aiplane"
DELETE_NOTES = {
    "Namespace": "; deleting a Namespace deletes everything in it",
    "PersistentVolumeClaim": "; the volume's data (e.g. a model cache) may be lost",
    "CustomResourceDefinition": "; deleting a CRD deletes all its custom resources",
}
GPU_OPERATOR_NAMESPACE = "gpu-operator"


def make_provider(context: ProviderContext) -> KubernetesProvider:
    """Registry factory: the client and ApplySet come from ``context.shared``."""
    provider = KubernetesProvider(
        context.shared["kube_client"],
        context.shared["applyset"],
        scrubber=context.scrubber,
        stack_file=context.stack_file,
        fingerprints=context.saving,
        health_timeout=float(context.options.get("health_timeout", 0)),
        imports=frozenset(context.options.get("imports", ())),
    )
    provider.use_mig_refs(r.body for r in context.rendered)
    stop = context.shared.get("stop")
    provider.stop = stop if callable(stop) else None
    return provider


class KubernetesProvider:
    """API objects of one stack, owned through its ApplySet (see the module docstring)."""

    name = "kubernetes"

    def __init__(
        self,
        client: KubeClient,
        applyset: ApplySet,
        *,
        scrubber: Scrubber,
        stack_file: str = "",
        fingerprints: bool = False,
        drift_rules: Sequence[DriftRule] = (),
        health_timeout: float = 0,
        imports: frozenset[str] = frozenset(),
    ) -> None:
        self.client = client
        self.applyset = applyset
        self.scrub = scrubber
        self.stack_file = stack_file
        self.fingerprints = fingerprints  # content digests in pins: only saved plans need them
        self.drift_rules = tuple(drift_rules)
        self.health_timeout = health_timeout  # caps every per-kind timeout when > 0
        self.imports = imports  # addresses `aiplane import` may adopt (all others: refused)
        self.stack_manager = stack_field_manager(applyset.stack)
        self.shared = ConfiguredObjects(client, applyset.stack, self.stack_manager, stack_file,
                                        imports, applyset.id)  # fmt: skip
        self.configured: dict[Address, MergeSpec | None] = {}  # address -> its shared document
        self.last_read = Live()  # what ``read`` found last (plan warnings look at health)
        self.concurrency = client.concurrency
        self.desired: dict[Address, Desired] = {}
        self.crds: dict[tuple[str, str], bool] = {}
        self.new_namespaces: set[str] = set()
        self.mig_refs: frozenset[str] = frozenset()  # MIG configs NodeLabels select
        self._encoded: dict[Address, bytes] = {}  # a create is sent twice (dry run, then apply)
        self.stop: Callable[[], None] | None = None  # raises once SIGINT/SIGTERM came
        self.prefetch: Prefetch | None = None  # LISTs ``prepare`` started for the first read

    # -- prepare and read ----------------------------------------------------------------------

    def prepare(self, resources: Sequence[Resource]) -> list[Resource]:
        """Default namespaces, ownership labels, digests; learn Secret values."""
        manifests = [dict(r.body) for r in resources]
        namespace = self.client.config.namespace
        calls = prefetch_calls(self.client, manifests, namespace)
        self.prefetch = Prefetch(self.client, self.applyset.selector, calls)
        for m in manifests:
            if m.get("kind") == "Secret":
                self.scrub.learn_secret(m)
        self.crds = crd_scopes(manifests)
        self.new_namespaces = {
            str((m.get("metadata") or {}).get("name"))
            for m in manifests
            if m.get("kind") == "Namespace"
        }
        desired = prepare(
            manifests,
            applyset=self.applyset,
            default_namespace=namespace,
            scope=self._namespaced,
        )
        out = []
        for r, d in zip(resources, desired, strict=True):
            self.desired[d.ref.address] = d
            if d.configured:
                self.configured[d.ref.address] = d.merge
            out.append(Resource(d.ref.address, d.body, r.source or d.source, d.subject, d.digest))
        return out

    def use_mig_refs(self, manifests: Iterable[Mapping[str, Any]]) -> None:
        """The MIG configs the stack's NodeLabels select (a ConfigMap change to one of them
        re-partitions GPUs)."""
        self.mig_refs = mig_refs_of(manifests)

    def manager(self, ref: ObjectRef) -> str:
        """The field manager aiplane applies ``ref`` with (per stack on configured objects)."""
        return self.stack_manager if self.is_configured(ref) else FIELD_MANAGER

    def is_configured(self, ref: ObjectRef) -> bool:
        """Whether this stack only configures ``ref`` (rendered so, or recorded so)."""
        return ref.address in self.configured or is_configured(ref.kind)

    def _namespaced(self, api_version: str, kind: str) -> bool | None:
        res = self.client.resource(api_version, kind)
        return None if res is None else res.namespaced

    def read(self, wanted: Sequence[Resource], recorded: Inventory) -> Live:
        """Preflight, then the stack's objects as they are (``live_read``)."""
        desired = [self.desired[r.address] for r in wanted]
        check_preflight(self.client, desired, crds=self.crds, created=self.new_namespaces,
                        stack_file=self.stack_file)  # fmt: skip
        prefetched, self.prefetch = self.prefetch, None
        live = read_live(self.client, self.applyset.selector, desired, recorded, self.configured,
                         prefetched)  # fmt: skip
        self.last_read = live
        for obj in [*live.objects.values(), *live.members.values()]:
            if obj.get("kind") == "Secret":
                self.scrub.learn_secret(obj)
        return live

    # -- plan ----------------------------------------------------------------------------------

    def pin(self, live: Manifest) -> Pin:
        """What a saved plan records about a live object (the content digest only when saving)."""
        meta = live["metadata"]
        fingerprint = pinned_fingerprint(live) if self.fingerprints else None
        return Pin(meta.get("resourceVersion"), fingerprint, meta.get("uid"))

    def plan(self, wanted: Sequence[Resource], live: Live) -> list[Change]:
        """Objects provably unchanged are decided in this thread; the rest go to a thread pool as
        soon as they are found, so dry-run requests overlap with the local walk."""
        return plan_each(
            wanted,
            lambda r: self.plan_one(self.desired[r.address], live),
            concurrency=self.concurrency,
            scrub=self.scrub,
            stack_file=self.stack_file,
            local=lambda r: self._plan_locally(self.desired[r.address], live),
        )

    def _plan_locally(self, d: Desired, live: Live) -> Change | None:
        """The no-request no-op, when the fast path proves it; None when a request is needed."""
        obj = live.objects.get(d.ref.address)
        if obj is None or label(obj, PART_OF) != self.applyset.id or d.configured:
            return None
        owned = owned_fields(obj, self.manager(d.ref), d.ref.api_version)
        if not proves_unchanged(d.body, obj, owned):
            return None
        return self._decide(d, exists=True, pin=self.pin(obj))

    def _decide(self, d: Desired, **observed: Any) -> Change:
        return decide(
            d.ref.address,
            wanted=True,
            classify=self.classify(d.ref),
            source=d.source,
            subject=d.subject,
            desired_digest=d.digest,
            **observed,
        )

    def classify(self, ref: ObjectRef) -> Classify:
        """The disruption rule for ``ref`` (see ``kinds.disruption_of``)."""

        def rule(action: Action, diffs: Sequence[FieldDiff]) -> Disruption:
            return disruption_of(ref, action, diffs, self.mig_refs)

        return rule

    def plan_one(self, d: Desired, live: Live) -> Change:
        """The change for one object: estimate, create, or update/replace/no-op."""
        if self.client.resource(d.ref.api_version, d.ref.kind) is None:
            crd = (d.ref.group, d.ref.kind) in self.crds
            why = "installed by this plan" if crd else "not installed"
            return self._decide(
                d, exists=False, diffs=self._created(d), estimate=True,
                reason=f"CRD for {d.ref.group_kind} {why}; client-side estimate",
            )  # fmt: skip
        obj = live.objects.get(d.ref.address)
        if obj is None:
            return self._create(d)
        return self._update(d, obj)

    def _created(self, d: Desired) -> tuple[FieldDiff, ...]:
        return mask_diffs(d.ref, diff_values({}, shown_body(d.body)))

    def _create(self, d: Desired) -> Change:
        estimate, reason = False, "new"
        try:
            if d.configured:
                self.client.apply(self.shared.create_body(d), field_manager=self.stack_manager,
                                  dry_run=True)  # fmt: skip
            else:
                self.client.apply(d.body, field_manager=FIELD_MANAGER, dry_run=True,
                                  encoded=self._encode(d), result=False)  # fmt: skip
        except ApiError as exc:
            if exc.status != 404:
                raise
            if d.ref.namespace not in self.new_namespaces:
                raise PlanError(
                    f"namespace {d.ref.namespace} does not exist and the stack does not create it"
                ) from exc
            estimate, reason = True, "new; namespace created by this plan (client-side estimate)"
        return self._decide(d, exists=False, diffs=self._created(d), reason=reason,
                            estimate=estimate)  # fmt: skip

    def _update(self, d: Desired, live: Manifest) -> Change:
        if d.configured:
            return self._configure(d, live)
        pin = self.pin(live)
        foreign = label(live, PART_OF)
        if foreign and foreign != self.applyset.id:
            raise PlanError(
                f"belongs to another ApplySet, managed by {current_manager(live)}; "
                "refusing to take it over"
            )
        adopt = ""
        if not foreign:
            if str(d.ref.address) in self.imports:
                adopt = f" (imports an object managed by {current_manager(live)})"
            elif rendered_for(live, self.applyset.stack):
                adopt = " (applied from this stack's render by another tool; joins its ApplySet)"
            else:
                raise PlanError(not_adopted(live, self.stack_file, str(d.ref.address)))
        body, notes, exact = self.expected_drift(d, live)
        seen = {"exists": True, "pin": pin, "expected_drift": notes, "note": adopt}
        client_diffs = [FieldDiff(m.path, m.live, m.desired) for m in _mismatches(body, live)]
        reason = immutable_reason(d.ref, d.body, live, client_diffs)
        if reason:
            return self._replace(d, live, reason, seen)
        if exact and not adopt:
            return self._decide(d, **seen)
        try:
            result = self.client.apply(body, field_manager=FIELD_MANAGER, dry_run=True)
        except ApiError as exc:
            if not exc.immutable:
                raise
            return self._replace(d, live, self.scrub(str(exc)), seen)
        diffs = mask_diffs(
            d.ref, diff_values(strip_server_fields(live), strip_server_fields(result))
        )
        # A field another manager now holds was edited outside aiplane: say who, so the review
        # shows this change as drift being undone, not as something the stack asked for.
        editors = sorted({m for x in diffs for m in field_owners(live, x.path)})
        if editors and not adopt:
            seen["note"] = f" ({CHANGED_OUTSIDE} by {', '.join(editors)})"
        return self._decide(d, diffs=diffs, **seen)

    def _configure(self, d: Desired, live: Manifest) -> Change:
        """An object shared with other stacks or tools: this stack's fields only
        (``configured``)."""
        try:
            client_diffs = [FieldDiff(m.path, m.live, m.desired) for m in _mismatches(d.body, live)]
            reason = immutable_reason(d.ref, d.body, live, client_diffs)
            if reason:
                self.shared.check_replaceable(d, live, reason)
            diffs, note = self.shared.plan_update(d, live)
        except MustReplace as exc:
            seen = {"exists": True, "pin": self.pin(live), "note": ""}
            return self._replace(d, live, self.scrub(str(exc)), seen)
        return self._decide(d, exists=True, pin=self.pin(live), diffs=diffs, note=note)

    def _replace(self, d: Desired, live: Manifest, reason: str, seen: dict[str, Any]) -> Change:
        diffs = mask_diffs(
            d.ref, diff_values(shown_body(strip_server_fields(live)), shown_body(d.body))
        )
        return self._decide(d, diffs=diffs, replace_reason=reason, **seen)

    def expected_drift(
        self, d: Desired, live: Manifest
    ) -> tuple[Manifest, tuple[DriftNote, ...], bool]:
        """Drop fields other controllers own; return (body to send, notes, provably unchanged)."""
        owned = owned_fields(live, self.manager(d.ref), d.ref.api_version)
        walk = compare(d.body, live, owned)
        if walk.exact or not walk.mismatches:
            return d.body, (), walk.exact
        rules = rules_for(d.body, self.drift_rules)
        hits = [
            (m, r) for m in walk.mismatches if (r := match_rule(rules, d.ref.kind, m.path, live))
        ]
        if not hits:
            return d.body, (), False
        body = copy.deepcopy(d.body)
        for m, _ in hits:
            remove_at(body, m.where)
        notes = tuple(DriftNote(m.path, r.owner) for m, r in hits)
        return body, notes, compare(body, live, owned).exact

    def prune(self, wanted: Sequence[Resource], live: Live) -> list[Change]:
        """Deletions of this ApplySet's members that the stack no longer renders."""
        same = {r.address for r in wanted}  # most members: read through the wanted apiVersion
        keep = {key_of(self.desired[r.address].ref) for r in wanted}
        gone = [
            (key_of(ref), address, ref, obj)
            for address, obj in live.members.items()
            if address not in same and (ref := ObjectRef.of(address)) and key_of(ref) not in keep
            and (self.is_configured(ref) or label(obj, PART_OF) == self.applyset.id)
        ]  # fmt: skip
        out = []
        for _key, address, ref, obj in sorted(gone, key=lambda g: g[0]):
            if self.is_configured(ref):
                out.append(self.shared.release_change(
                    address, obj, self.configured.get(address), self.classify(ref),
                    self.pin(obj)))  # fmt: skip
                continue
            out.append(
                decide(
                    address,
                    wanted=False,
                    exists=True,
                    pin=self.pin(obj),
                    note=DELETE_NOTES.get(ref.kind, "") + self._namespace_content(ref),
                    classify=self.classify(ref),
                    source=annotation(obj, SOURCE_ANN),
                    subject=annotation(obj, SUBJECT_ANN),
                )
            )
        return out

    def _namespace_content(self, ref: ObjectRef) -> str:
        """For a Namespace about to be deleted: what lives in it that this stack does not own."""
        if ref.kind != "Namespace":
            return ""
        found: list[Manifest] = []
        for api_version, kind in NAMESPACE_CONTENT_KINDS:
            if self.client.resource(api_version, kind):
                found += self.client.list(api_version, kind, label_selector="",
                                          namespace=ref.name)  # fmt: skip
        return unowned_note(found, self.applyset.id)

    def pin_now(self, address: Address, live: Live) -> Pin | None:
        """The object's pin now, with its content fingerprint (None: it does not exist)."""
        obj = live.objects.get(address) or live.members.get(address)
        if obj is None:
            return None
        meta = obj["metadata"]
        return Pin(meta.get("resourceVersion"), pinned_fingerprint(obj), meta.get("uid"))

    def stage(self, address: Address) -> Stage:
        """The kind's stage from the kinds table (unknown kinds go with workloads)."""
        return facts(address.kind).stage

    def warnings(self, changes: Sequence[Change]) -> list[str]:
        """CRDs the plan could only estimate against; a ClusterPolicy no operator reconciles."""
        out = [
            f"{c.address}: {c.reason}; apply fails unless the CRD exists by then"
            for c in changes
            if c.address.provider == self.name and c.estimate and "not installed" in c.reason
        ]
        out += [
            why
            for c in changes
            if c.address.provider == self.name and c.address.kind in GATED_KINDS
            and not c.changing and c.address in self.last_read.objects
            and (why := not_ready(ObjectRef.of(c.address), self.last_read.objects[c.address]))
        ]  # fmt: skip
        policies = [c for c in changes if c.address.provider == self.name
                    and c.address.kind == "ClusterPolicy" and c.changing]  # fmt: skip
        if policies and not self._gpu_operator_running():
            out += [
                f"{c.address}: no GPU Operator runs in namespace {GPU_OPERATOR_NAMESPACE} to "
                "reconcile it; apply will not wait for it (install the operator first)"
                for c in policies
            ]
        return out

    def _gpu_operator_running(self) -> bool:
        if self.client.get("v1", "Namespace", GPU_OPERATOR_NAMESPACE) is None:
            return False
        deployments = self.client.list("apps/v1", "Deployment", label_selector="",
                                       namespace=GPU_OPERATOR_NAMESPACE)  # fmt: skip
        return bool(deployments)

    # -- apply ---------------------------------------------------------------------------------

    def apply(self, change: Change, wanted: Resource | None, live: Live) -> None:
        """Server-side apply (forced: aiplane owns what it declares); delete by uid."""
        if self.stop is not None:
            self.stop()  # after SIGINT/SIGTERM only the requests in flight finish
        ref = ObjectRef.of(change.address)
        if change.action == "delete" and self.is_configured(ref):
            obj = live.members.get(change.address)
            if obj is not None:
                self.shared.release(change, obj, self.configured.get(change.address))
            return
        if change.action == "delete":
            uid = change.pin.uid if change.pin else None
            self.client.delete(ref.api_version, ref.kind, ref.name, ref.namespace or None, uid=uid)
            return
        if wanted is None:
            raise AiplaneError(f"{change.address}: the stack no longer renders it")
        d = self.desired[change.address]
        if change.action == "replace":
            self._delete_and_wait(change)
        obj = live.objects.get(change.address)
        if d.configured:
            self.shared.write(d, obj if change.action == "update" else None)
            return
        body = d.body
        if obj is not None and change.action == "update":
            body, _, _ = self.expected_drift(d, obj)
        encoded = self._encode(d) if body is d.body else None  # aiplane owns what it declares
        self.client.apply(body, field_manager=FIELD_MANAGER, force=True, encoded=encoded,
                          result=False)  # fmt: skip

    def _encode(self, d: Desired) -> bytes:
        """The desired body's request bytes, built once per object."""
        got = self._encoded.get(d.ref.address)
        if got is None:
            got = self._encoded[d.ref.address] = encode(d.body)
        return got

    def _delete_and_wait(self, change: Change, timeout: float = 120) -> None:
        r = ObjectRef.of(change.address)
        uid = change.pin.uid if change.pin else None
        self.client.delete(r.api_version, r.kind, r.name, r.namespace or None, uid=uid,
                           propagation="Foreground")  # fmt: skip
        deadline = time.monotonic() + timeout
        while self.client.get(r.api_version, r.kind, r.name, r.namespace or None) is not None:
            if time.monotonic() > deadline:
                raise AiplaneError(f"{r}: still terminating after {timeout:.0f} s")
            time.sleep(0.5)

    def settle(self, changes: Sequence[Change], say: Say, *, health: bool) -> None:
        """Wait for the changed objects to be healthy; then re-read discovery after CRDs (only
        an Established CRD is served: refreshing before the wait could cache it as missing)."""
        if health:
            refs = [ObjectRef.of(c.address) for c in changes if c.action != "delete"]
            if any(r.kind == "ClusterPolicy" for r in refs) and not self._gpu_operator_running():
                # nothing would ever mark it ready: waiting would only burn the timeout
                say(f"ClusterPolicy: not waiting: no GPU Operator runs in namespace "
                    f"{GPU_OPERATOR_NAMESPACE} (install it to reconcile the policy)")  # fmt: skip
                refs = [r for r in refs if r.kind != "ClusterPolicy"]
            wait_healthy(self.client, refs, say, selector=self.applyset.selector,
                         cap=self.health_timeout, stop=self.stop)  # fmt: skip
        if any(self.stage(c.address) == STAGES[0] for c in changes):
            self.client.refresh_discovery()

    def unhealthy(self, addresses: Sequence[Address]) -> list[str]:
        """Workloads among ``addresses`` that are not ready within their health timeout (the
        engine's health gate)."""
        refs = [ObjectRef.of(a) for a in addresses if a.provider == self.name]
        gated = [r for r in refs if r.kind in GATED_KINDS]
        wait = max((timeout_for(r.kind, self.health_timeout) for r in gated), default=0)
        return unhealthy(self.client, gated, self.applyset.selector, timeout=wait)

    def inventory(self, wanted: Sequence[Resource]) -> Inventory:
        """The group-kinds and namespaces the ApplySet parent lists."""
        refs = [self.desired[r.address].ref for r in wanted]
        return {
            GROUP_KINDS: tuple(sorted({r.group_kind for r in refs})),
            NAMESPACES: tuple(sorted({r.namespace for r in refs if r.namespace})),
            CONFIGURED: tuple(
                sorted(
                    recorded_configured(d.ref, d.merge)
                    for r in wanted
                    if (d := self.desired[r.address]).configured
                )
            ),
        }

    def close(self) -> None:
        """The client is shared; the command closes it."""


def _mismatches(body: Manifest, live: Manifest) -> list[Mismatch]:
    return compare(body, live, None).mismatches
