"""Plan without a cluster: diff against another revision of the stack (``--against``).

``--against empty`` plans against nothing (every object is new); ``--against DIR`` reads the YAML
manifests in DIR; anything else is a git revision: the stack file at that revision is rendered
(``git show REV:FILE``). The diff is client-side (no API defaults, no live drift) and the plan is
marked offline, so ``apply`` refuses it.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from aiplane.cluster.applyset import ApplySet
from aiplane.cluster.desired import Desired, prepare
from aiplane.cluster.diff import diff_values, mask_diffs
from aiplane.cluster.kinds import disruption_of, immutable_reason, mig_refs_of
from aiplane.cluster.objects import Manifest, shown_body
from aiplane.cluster.plan import Action, Change, Plan
from aiplane.cluster.planner import now_iso, stack_digest
from aiplane.errors import AiplaneError

Renderer = Callable[[str], list[Manifest]]
CLUSTER_SCOPED = frozenset(
    {
        "Namespace", "Node", "PriorityClass", "ClusterRole", "ClusterRoleBinding",
        "CustomResourceDefinition", "StorageClass", "ClusterPolicy", "ClusterWorkflowTemplate",
        "GatewayClass", "IngressClass", "ValidatingWebhookConfiguration", "PersistentVolume",
        "MutatingWebhookConfiguration", "ClusterQueue", "ResourceFlavor", "NodeLabels",
        "ClusterIssuer", "RuntimeClass",
    }
)  # fmt: skip


def offline_scope(api_version: str, kind: str) -> bool:
    return kind not in CLUSTER_SCOPED


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
    from aiplane.render.write_dir import recorded_node_labels

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
) -> tuple[Plan, list[Desired]]:
    """Client-side plan from ``before`` to ``manifests``."""
    kw: dict[str, Any] = {"applyset": applyset, "default_namespace": "default",
                          "scope": offline_scope}  # fmt: skip
    desired = prepare(manifests, **kw)
    old = {d.key: d for d in prepare(before, **kw)}
    refs = mig_refs_of(d.body for d in desired)
    changes = [_change(d, old.pop(d.key, None), refs) for d in desired]
    changes += [
        Change(
            action="delete",
            ref=o.ref,
            reason="no longer in the stack",
            source=o.source,
            subject=o.subject,
            disruption=disruption_of(o.ref, "delete", ()),
        )
        for o in old.values()
    ]
    plan = Plan(
        stack=stack,
        stack_file=stack_file,
        stack_digest=stack_digest(desired),
        mode="offline",
        target=target,
        applyset_id=applyset.id,
        plan_id=uuid.uuid4().hex,
        created=now_iso(),
        changes=tuple(changes),
    )
    return plan, desired


def _change(d: Desired, old: Desired | None, mig_refs: frozenset[str] = frozenset()) -> Change:
    base: dict[str, Any] = {"ref": d.ref, "source": d.source, "subject": d.subject,
                            "desired_digest": d.digest}  # fmt: skip
    if old is None:
        new = mask_diffs(d.ref, diff_values({}, shown_body(d.body)))
        return Change(action="create", reason="new", diffs=new,
                      disruption=disruption_of(d.ref, "create", new), **base)  # fmt: skip
    diffs = mask_diffs(d.ref, diff_values(shown_body(old.body), shown_body(d.body)))
    if not diffs:
        return Change(action="noop", **base)
    reason = immutable_reason(d.ref, d.body, old.body, diffs)
    action: Action = "replace" if reason else "update"
    return Change(action=action, reason=reason or f"{len(diffs)} field(s) change", diffs=diffs,
                  disruption=disruption_of(d.ref, action, diffs, mig_refs), **base)  # fmt: skip
