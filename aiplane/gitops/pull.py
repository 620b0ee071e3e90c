"""The objects pull-mode GitOps applies: exactly what ``aiplane apply`` writes, minus ApplySet.

``aiplane apply`` removes the source-line annotation (moving a line in the stack must not be a
change), fills default namespaces and labels every object with the stack; a pull-mode applier
(Argo CD, Flux, ``kubectl apply --server-side``) must write the same objects or the two ways of
working would fight. What they cannot take is left out, with a note:

* the ApplySet membership label: the pull-mode tool tracks and prunes its own objects;
* ``NodeLabels``: aiplane labels existing Nodes by selector, which needs the cluster; a GitOps
  tool must never own Node objects (its prune would delete nodes).

Pure: reads the stack files (and what they name) only; no cluster, no registry, no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from aiplane.errors import Diagnostic
from aiplane.providers.kubernetes.applyset import ApplySet
from aiplane.providers.kubernetes.desired import prepare
from aiplane.providers.kubernetes.kinds import STAGES, stage_of
from aiplane.providers.kubernetes.labels import NODE_LABELS_KIND, PART_OF
from aiplane.providers.kubernetes.objects import Manifest, ObjectRef
from aiplane.providers.kubernetes.offline import offline_scope
from aiplane.providers.kubernetes.shared_doc import merge_into

KUBERNETES_PROVIDERS = frozenset({"kubernetes", "node-labels"})


@dataclass(frozen=True)
class PullObject:
    """One object for a pull-mode applier and the apply stage it belongs to."""

    ref: ObjectRef
    body: Manifest
    stage: int

    @property
    def stage_name(self) -> str:
        return STAGES[self.stage]


@dataclass
class PullStack:
    """One stack's objects, in apply order, and what was left out (for stderr)."""

    name: str
    file: str
    objects: list[PullObject] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)


def pull_stack(file: str, extra_labels: dict[str, str] | None = None) -> PullStack:
    """Load, check and render ``file``; prepare its objects as ``aiplane apply`` would."""
    from aiplane.check import load_and_check
    from aiplane.render import render_all

    loaded = load_and_check(file)
    rendering = render_all(loaded)
    name = str(loaded.stack.metadata.name)
    out = PullStack(name, file, warnings=[*loaded.warnings, *rendering.warnings])
    out.objects, out.notes = pull_objects(name, rendering.manifests, extra_labels or {})
    # Resources of other providers (a vector database, a gateway's config API...) are not
    # Kubernetes objects: a GitOps controller cannot apply them, so say so rather than drop them.
    out.notes += [
        f"{r.address}: left out: the {r.provider} provider applies it, not a GitOps controller; "
        "run `aiplane apply` for it"
        for r in rendering.resources
        if r.provider not in KUBERNETES_PROVIDERS
    ]
    return out


def pull_objects(
    stack: str, rendered: Sequence[Manifest], extra_labels: dict[str, str]
) -> tuple[list[PullObject], list[str]]:
    """Rendered manifests -> pull-mode objects (sorted by stage, keeping render order within)."""
    # The ApplySet here only lends ``prepare`` its labels; they are removed again below.
    desired = prepare(rendered, applyset=ApplySet(stack, "unused"), default_namespace="default",
                      scope=offline_scope)  # fmt: skip
    objects: list[PullObject] = []
    notes: list[str] = []
    for d in desired:
        if d.ref.kind == NODE_LABELS_KIND:
            notes.append(_node_labels_note(d.ref, d.body))
            continue
        if d.merge is not None:
            notes.append(
                f"{d.ref}: holds this stack's {d.merge.entries} entries only; where several "
                "stacks share the GPU cluster, a GitOps controller would replace the others' "
                "entries: apply the GPU pools with `aiplane apply`, which merges them"
            )
        body = d.create_body
        if d.merge is not None:  # record its entries as `aiplane apply` does (see shared_doc)
            body = merge_into(d.merge, body, None, stack).body
        body = _without_applyset(body, extra_labels, d.configured)
        objects.append(PullObject(d.ref, body, stage_of(d.ref)))
    objects.sort(key=lambda o: o.stage)  # stable: render order within a stage
    return objects, notes


def _without_applyset(body: Manifest, extra_labels: dict[str, str], configured: bool) -> Manifest:
    meta = dict(body["metadata"])
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != PART_OF}
    if not configured:  # a shared, configured object gets no labels
        labels.update(extra_labels)
    if labels:
        meta["labels"] = labels
    else:
        meta.pop("labels", None)
    return {**body, "metadata": meta}


def _node_labels_note(ref: ObjectRef, body: Manifest) -> str:
    spec = body.get("spec") or {}
    labels = ", ".join(f"{k}={v}" for k, v in sorted((spec.get("labels") or {}).items()))
    selector = spec.get("nodeSelector") or {}
    if isinstance(selector, dict) and "matchLabels" in selector:
        selector = selector["matchLabels"] or {}
    where = ", ".join(f"{k}={v}" for k, v in sorted(selector.items())) or "(no selector)"
    return (
        f"{ref}: left out: node labels need the cluster (nodes {where} should carry {labels}); "
        "set them in your node pool or run `aiplane apply` for them"
    )
