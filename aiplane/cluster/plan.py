"""The plan: a frozen value that ``apply`` executes exactly, and its versioned JSON form.

JSON format (``format_version`` 1)::

    {"format_version": 1, "aiplane_version": "0.1.0", "plan_id": "...", "created": "...",
     "stack": {"name", "file", "digest"}, "target": {"mode": "cluster"|"offline", "description",
     "applyset_id", "lock_holder"}, "summary": {...counts...}, "warnings": [...],
     "changes": [{"action", "object": {apiVersion, kind, namespace, name}, "reason",
                  "disruption", "source", "subject", "estimate", "pin": {"resourceVersion",
                  "fingerprint", "uid"} | null, "desired_digest", "expected_drift": [{path, owner}],
                  "diffs": [{path, op, before, after}]}]}

``pin`` null means "the object did not exist at plan time". No manifest bodies are stored (Secrets
would leak); ``apply`` re-renders the stack and checks each object's ``desired_digest``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from aiplane import __version__
from aiplane.errors import AiplaneError
from aiplane.gpu.capacity import Capacity
from aiplane.providers.kubernetes.diff import FieldDiff
from aiplane.providers.kubernetes.objects import ObjectRef

FORMAT_VERSION = 1
Action = Literal["create", "update", "replace", "delete", "noop", "drift-expected"]
Disruption = Literal["none", "in-place", "rolling-restart", "recreate", "node-disruptive"]
Mode = Literal["cluster", "offline"]
CHANGING: frozenset[str] = frozenset({"create", "update", "replace", "delete"})
DISRUPTION_ORDER: tuple[str, ...] = get_args(Disruption)


@dataclass(frozen=True)
class Pin:
    """What the object looked like at plan time (resourceVersion plus a content digest)."""

    resource_version: str | None = None
    fingerprint: str | None = None
    uid: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"resourceVersion": self.resource_version, "fingerprint": self.fingerprint,
                "uid": self.uid}  # fmt: skip

    @classmethod
    def from_json(cls, doc: Mapping[str, Any] | None) -> Pin | None:
        if doc is None:
            return None
        return cls(doc.get("resourceVersion"), doc.get("fingerprint"), doc.get("uid"))


@dataclass(frozen=True)
class DriftNote:
    path: str
    owner: str


@dataclass(frozen=True)
class Change:
    """One object's planned action."""

    action: Action
    ref: ObjectRef
    reason: str = ""
    disruption: Disruption = "none"
    diffs: tuple[FieldDiff, ...] = ()
    pin: Pin | None = None
    source: str = ""
    subject: str = ""
    desired_digest: str | None = None
    estimate: bool = False
    expected_drift: tuple[DriftNote, ...] = ()

    @property
    def changing(self) -> bool:
        return self.action in CHANGING

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "object": self.ref.to_json(),
            "reason": self.reason,
            "disruption": self.disruption,
            "source": self.source,
            "subject": self.subject,
            "estimate": self.estimate,
            "pin": self.pin.to_json() if self.pin else None,
            "desired_digest": self.desired_digest,
            "expected_drift": [{"path": d.path, "owner": d.owner} for d in self.expected_drift],
            "diffs": [d.to_json() for d in self.diffs],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Change:
        return cls(
            action=doc["action"],
            ref=ObjectRef.from_json(doc["object"]),
            reason=doc.get("reason", ""),
            disruption=doc.get("disruption", "none"),
            diffs=tuple(FieldDiff.from_json(d) for d in doc.get("diffs", [])),
            pin=Pin.from_json(doc.get("pin")),
            source=doc.get("source", ""),
            subject=doc.get("subject", ""),
            desired_digest=doc.get("desired_digest"),
            estimate=bool(doc.get("estimate", False)),
            expected_drift=tuple(
                DriftNote(d["path"], d["owner"]) for d in doc.get("expected_drift", [])
            ),
        )


@dataclass(frozen=True)
class Gate:
    """A change the gates block unless the user allows it."""

    ref: ObjectRef
    flag: str
    message: str


@dataclass(frozen=True)
class Plan:
    """Everything ``apply`` needs to know to execute exactly what was shown."""

    stack: str
    stack_file: str
    stack_digest: str
    mode: Mode
    target: str
    applyset_id: str
    plan_id: str
    created: str
    changes: tuple[Change, ...] = ()
    warnings: tuple[str, ...] = ()
    lock_holder: str = ""
    capacity: Capacity | None = None
    capacity_before: Capacity | None = None
    format_version: int = FORMAT_VERSION
    aiplane_version: str = field(default=__version__)

    @property
    def has_changes(self) -> bool:
        return any(c.changing for c in self.changes)

    def counts(self) -> dict[str, int]:
        counted = Counter(c.action for c in self.changes)
        return {a: counted.get(a, 0) for a in get_args(Action)}

    def gates(self, *, allow_disruption: bool, allow_delete: bool) -> list[Gate]:
        """Changes that need ``--allow-disruption`` / ``--allow-delete`` and did not get it."""
        out = []
        for c in self.changes:
            if c.disruption == "node-disruptive" and not allow_disruption:
                out.append(Gate(c.ref, "--allow-disruption", "node-disruptive change"))
            if c.action in ("delete", "replace") and not allow_delete:
                what = "deletion" if c.action == "delete" else "replacement (delete + create)"
                out.append(Gate(c.ref, "--allow-delete", what))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "aiplane_version": self.aiplane_version,
            "plan_id": self.plan_id,
            "created": self.created,
            "stack": {"name": self.stack, "file": self.stack_file, "digest": self.stack_digest},
            "target": {
                "mode": self.mode,
                "description": self.target,
                "applyset_id": self.applyset_id,
                "lock_holder": self.lock_holder,
            },
            "summary": {**self.counts(), "has_changes": self.has_changes},
            "warnings": list(self.warnings),
            "changes": [c.to_json() for c in self.changes],
            "gpu_capacity": {
                "after": self.capacity.to_json() if self.capacity else None,
                "before": self.capacity_before.to_json() if self.capacity_before else None,
            },
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=False)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Plan:
        version = doc.get("format_version")
        if version != FORMAT_VERSION:
            raise AiplaneError(
                f"plan: format_version {version!r} is not supported (this aiplane reads "
                f"{FORMAT_VERSION})"
            )
        stack, target = doc["stack"], doc["target"]
        return cls(
            stack=stack["name"],
            stack_file=stack["file"],
            stack_digest=stack["digest"],
            mode=target["mode"],
            target=target["description"],
            applyset_id=target["applyset_id"],
            plan_id=doc["plan_id"],
            created=doc["created"],
            changes=tuple(Change.from_json(c) for c in doc.get("changes", [])),
            warnings=tuple(doc.get("warnings", [])),
            lock_holder=target.get("lock_holder", ""),
            capacity=Capacity.from_json((doc.get("gpu_capacity") or {}).get("after")),
            capacity_before=Capacity.from_json((doc.get("gpu_capacity") or {}).get("before")),
            format_version=version,
            aiplane_version=doc.get("aiplane_version", ""),
        )

    @classmethod
    def loads(cls, text: str) -> Plan:
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise AiplaneError(f"plan: not valid JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise AiplaneError("plan: not a JSON object")
        return cls.from_json(doc)
