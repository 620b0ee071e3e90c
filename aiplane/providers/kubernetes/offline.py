"""Plan without a cluster: diff against another revision of the stack (``--against``).

``--against empty`` plans against nothing (every object is new); ``--against DIR`` reads the YAML
manifests in DIR; anything else is a git revision: the stack file at that revision is rendered
(``git show REV:FILE``). The diff is client-side (no API defaults, no live drift) and the plan is
marked offline, so ``apply`` refuses it.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from aiplane.errors import AiplaneError
from aiplane.plan.address import Address
from aiplane.plan.decide import Classify, decide
from aiplane.plan.diff import FieldDiff, diff_values
from aiplane.plan.engine import now_iso, stack_digest
from aiplane.plan.model import Action, Change, Disruption, Plan
from aiplane.providers import nodelabels
from aiplane.providers.base import Resource
from aiplane.providers.kubernetes.applyset import ApplySet
from aiplane.providers.kubernetes.desired import Key, key_of, prepare
from aiplane.providers.kubernetes.diff import mask_diffs
from aiplane.providers.kubernetes.kind_table import facts
from aiplane.providers.kubernetes.kinds import disruption_of, immutable_reason, mig_refs_of
from aiplane.providers.kubernetes.labels import RENDER_RECORD
from aiplane.providers.kubernetes.objects import (
    PROVIDER,
    Manifest,
    ObjectRef,
    resources_of,
    shown_body,
)
from aiplane.providers.kubernetes.provider import DELETE_NOTES

Renderer = Callable[[str], list[Manifest]]


def offline_scope(api_version: str, kind: str) -> bool:
    """Namespaced or not, from the kind table (no cluster to ask)."""
    return not facts(kind).cluster_scoped


def load_against(against: str, stack_file: str, render: Renderer) -> tuple[list[Manifest], str]:
    """The "before" manifests and a description of where they came from."""
    if against == "empty":
        return [], "nothing (--against empty)"
    if os.path.isdir(against):
        return read_manifest_dir(Path(against)), f"manifests in {against}"
    return _render_revision(against, Path(stack_file), render), f"{stack_file} at {against}"


def read_manifest_dir(root: Path) -> list[Manifest]:
    """Every object in the *.yaml/*.yml/*.json files under ``root`` (List kinds flattened)."""
    out: list[Manifest] = []
    files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
    for path in files:
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except (OSError, yaml.YAMLError) as exc:
            raise AiplaneError(f"{path}: cannot read manifests: {exc}") from exc
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind", "").endswith("List"):
                out += [i for i in doc.get("items") or [] if isinstance(i, dict)]
            elif isinstance(doc, dict) and doc:
                out.append(doc)
    return out + recorded_node_labels(root)  # kept outside the apply set by ``render -o``


def _render_revision(rev: str, stack_file: Path, render: Renderer) -> list[Manifest]:
    folder = stack_file.resolve().parent
    proc = subprocess.run(
        ["git", "-C", str(folder), "show", f"{rev}:./{stack_file.name}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()[-1:] or ["git failed"]
        raise AiplaneError(
            f"--against {rev}: not a directory, 'empty' or a git revision with {stack_file.name}: "
            f"{err[0]}"
        )
    tmp = folder / f".aiplane-against-{uuid.uuid4().hex[:8]}{stack_file.suffix}"
    try:
        tmp.write_text(proc.stdout)
        return render(str(tmp))
    finally:
        tmp.unlink(missing_ok=True)


def offline_plan(
    manifests: Sequence[Mapping[str, Any]],
    before: Sequence[Mapping[str, Any]],
    *,
    stack: str,
    stack_file: str,
    applyset: ApplySet,
    target: str,
) -> Plan:
    """Client-side plan from ``before`` to ``manifests``, decided as the live plan decides."""
    desired = _prepared(manifests, applyset)
    old = {_key(r.address): r for r in _prepared(before, applyset)}
    refs = mig_refs_of(r.body for r in desired)
    changes = [_change(r, old.pop(_key(r.address), None), refs) for r in desired]
    changes += [
        decide(
            o.address,
            wanted=False,
            exists=True,
            source=o.source,
            subject=o.subject,
            note=DELETE_NOTES.get(o.address.kind, ""),
            classify=_classify(o.address),
        )
        for o in old.values()
    ]
    return Plan(
        stack=stack,
        stack_file=stack_file,
        stack_digest=stack_digest(desired),
        mode="offline",
        target=target,
        state_id=applyset.id,
        plan_id=uuid.uuid4().hex,
        created=now_iso(),
        changes=tuple(changes),
    )


def _prepared(manifests: Sequence[Mapping[str, Any]], applyset: ApplySet) -> list[Resource]:
    """Both providers' preparation, in render order (namespaces defaulted offline)."""
    resources = resources_of(manifests)
    labels = iter(nodelabels.prepared([r for r in resources if r.provider != PROVIDER]))
    objects = iter(
        prepare(
            [r.body for r in resources if r.provider == PROVIDER],
            applyset=applyset,
            default_namespace="default",
            scope=offline_scope,
        )
    )
    out = []
    for r in resources:
        if r.provider != PROVIDER:
            out.append(next(labels))
            continue
        d = next(objects)
        out.append(Resource(d.ref.address, d.body, r.source or d.source, d.subject, d.digest))
    return out


def _key(address: Address) -> Key:
    return key_of(ObjectRef.of(address))


def _classify(address: Address, mig_refs: frozenset[str] = frozenset()) -> Classify:
    if address.provider != PROVIDER:
        return nodelabels.classify
    ref = ObjectRef.of(address)

    def rule(action: Action, diffs: Sequence[FieldDiff]) -> Disruption:
        return disruption_of(ref, action, diffs, mig_refs)

    return rule


def _change(r: Resource, old: Resource | None, mig_refs: frozenset[str]) -> Change:
    ref = ObjectRef.of(r.address)
    seen: dict[str, Any] = {"wanted": True, "source": r.source, "subject": r.subject,
                            "desired_digest": r.digest}  # fmt: skip
    if old is None:
        created = mask_diffs(ref, diff_values({}, shown_body(r.body)))
        return decide(r.address, exists=False, diffs=created, classify=_classify(r.address), **seen)
    diffs = mask_diffs(ref, diff_values(shown_body(old.body), shown_body(r.body)))
    reason = immutable_reason(ref, r.body, old.body, diffs) if diffs else ""
    return decide(r.address, exists=True, diffs=diffs, replace_reason=reason,
                  classify=_classify(r.address, mig_refs), **seen)  # fmt: skip


def recorded_node_labels(folder: Path) -> list[Manifest]:
    """The node labels a render recorded for ``folder`` (its own record, or its parent's when
    ``folder`` is one stack's subdirectory); [] when none."""
    for record, key in (
        (folder / RENDER_RECORD, "."),
        (folder.parent / RENDER_RECORD, folder.name),
    ):
        if record.is_file():
            try:
                labels = json.loads(record.read_text()).get("nodeLabels") or {}
            except (OSError, ValueError):
                return []
            found = labels.get(key) if isinstance(labels, dict) else None
            return [o for o in found if isinstance(o, dict)] if isinstance(found, list) else []
    return []
