"""Expected drift: fields other controllers own, shown as "expected drift (owned by X)".

Built-in presets cover the AI stack's usual controllers. Users add their own per object with the
annotation ``aiplane.dev/expected-drift: "PATH=OWNER; PATH=OWNER"`` (PATH is a glob over diff
paths such as ``spec.replicas`` or ``spec.template.metadata.annotations.*``), which the renderer can
fill from the stack. A value that differs at a matching path is not reported as a change and is not
sent on apply, so aiplane never fights that controller for it.
"""

from __future__ import annotations

import copy
import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiplane.plan.diff import join
from aiplane.providers.kubernetes.labels import DRIFT_ANN
from aiplane.providers.kubernetes.objects import annotation, live_fingerprint

_AUTOSCALERS = ("kube-controller-manager", "*autoscaler*", "keda*", "*hpa*")


@dataclass(frozen=True)
class DriftRule:
    """Differences at ``path`` on ``kinds`` are expected when owned by one of ``managers``."""

    kinds: tuple[str, ...]
    path: str
    owner: str
    managers: tuple[str, ...] = ()

    def matches(self, kind: str, path: str) -> bool:
        return any(fnmatch.fnmatchcase(kind, k) for k in self.kinds) and fnmatch.fnmatchcase(
            path, self.path
        )

    def owned_by(self, owners: Iterable[str]) -> bool:
        """With ``managers`` set, one of the live owners of the field must match one of them."""
        if not self.managers:
            return True
        return any(fnmatch.fnmatchcase(o, m) for o in owners for m in self.managers)


PRESETS: tuple[DriftRule, ...] = (
    DriftRule(
        ("Deployment", "StatefulSet"), "spec.replicas", "HorizontalPodAutoscaler", _AUTOSCALERS
    ),
    DriftRule(("*",), "metadata.labels.nvidia.com/mig.config.state", "NVIDIA MIG manager"),
    DriftRule(("*",), "metadata.labels.nvidia.com/gpu.*", "GPU Feature Discovery"),
    DriftRule(("ClusterPolicy",), "metadata.annotations.nvidia.com/*", "GPU Operator"),
    DriftRule(("ClusterPolicy",), "spec.*.version", "GPU Operator", ("gpu-operator*",)),
    DriftRule(
        ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"),
        "webhooks[*].clientConfig.caBundle",
        "CA injector",
    ),
    DriftRule(
        ("CustomResourceDefinition",),
        "spec.conversion.webhook.clientConfig.caBundle",
        "CA injector",
    ),
)


def rules_for(obj: Mapping[str, Any], extra: Iterable[DriftRule] = ()) -> list[DriftRule]:
    """Presets, then rules passed in, then rules from the object's annotation."""
    kind = str(obj.get("kind", ""))
    rules = [*PRESETS, *extra]
    for part in annotation(obj, DRIFT_ANN).split(";"):
        path, _, owner = part.partition("=")
        if path.strip():
            rules.append(DriftRule((kind,), path.strip(), owner.strip() or "another controller"))
    return rules


def match_rule(
    rules: Iterable[DriftRule], kind: str, path: str, live: Mapping[str, Any]
) -> DriftRule | None:
    """The first rule that makes a difference at ``path`` expected (checking live ownership)."""
    candidates = [r for r in rules if r.matches(kind, path)]
    if not candidates:
        return None
    owners = field_owners(live, path)
    return next((r for r in candidates if r.owned_by(owners)), None)


def field_owners(live: Mapping[str, Any], path: str) -> list[str]:
    """Managers whose managedFields include ``path`` (other than aiplane)."""
    out = []
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        manager = str(entry.get("manager", ""))
        if manager != "aiplane" and path in flatten_fields(entry.get("fieldsV1") or {}):
            out.append(manager)
    return out


def flatten_fields(tree: Mapping[str, Any], path: str = "") -> set[str]:
    """``fieldsV1`` as a set of diff-style paths."""
    out: set[str] = set()
    for key, child in tree.items():
        if key == ".":
            continue
        if key.startswith("f:"):
            sub = join(path, key[2:])
        elif key.startswith("k:"):
            try:
                keys = json.loads(key[2:])
            except ValueError:
                continue
            sub = f"{path}[{','.join(f'{k}={v}' for k, v in keys.items())}]"
        elif key.startswith("v:"):
            sub = f"{path}[{key[2:]}]"
        else:
            continue
        out.add(sub)
        if isinstance(child, dict):
            out |= flatten_fields(child, sub)
    return out


def pinned_fingerprint(live: Mapping[str, Any]) -> str | None:
    """The content digest a saved plan pins: without the fields the presets expect other
    controllers to change (an HPA scaling between plan and apply does not make a plan stale)."""
    kind = str(live.get("kind", ""))
    paths = [
        r.path for r in PRESETS if r.matches(kind, r.path) and not any(c in r.path for c in "*[")
    ]
    if not paths:
        return live_fingerprint(live)
    view = copy.deepcopy(dict(live))
    for path in paths:
        _drop(view, path)
    return live_fingerprint(view)


def _drop(obj: dict[str, Any], path: str) -> None:
    for prefix in ("metadata.labels.", "metadata.annotations."):
        if path.startswith(prefix):
            parts = [*prefix[:-1].split("."), path[len(prefix) :]]
            break
    else:
        parts = path.split(".")
    cur: Any = obj
    for part in parts[:-1]:
        cur = cur.get(part) if isinstance(cur, dict) else None
    if isinstance(cur, dict):
        cur.pop(parts[-1], None)
