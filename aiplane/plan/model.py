"""The plan: a frozen value that ``apply`` executes exactly, and its versioned JSON form.

One plan spans every provider: each ``Change`` names its resource by ``Address`` (provider, type,
scope, name). JSON format (``format_version`` 2)::

    {"format_version": 2, "aiplane_version": "0.1.0", "plan_id": "...", "created": "...",
     "stack": {"name", "file", "digest"}, "target": {"mode": "cluster"|"offline", "description",
     "state_id", "lock_holder"}, "summary": {...counts...}, "warnings": [...],
     "changes": [{"action", "address": {provider, type, scope, name}, "reason", "disruption",
                  "source", "subject", "estimate", "pin": {"version", "fingerprint", "uid"} | null,
                  "desired_digest", "expected_drift": [{path, owner}],
                  "diffs": [{path, op, before, after}]}],
     "gpu_capacity": {"after", "before"}}

``pin`` null means "the resource did not exist at plan time". No bodies are stored (Secrets would
leak); ``apply`` re-renders the stack and checks each resource's ``desired_digest``. Format 1
(Kubernetes-only ``object`` references, PR 0.1) is refused with a message to plan again.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from aiplane import __version__
from aiplane.errors import AiplaneError
from aiplane.gpu.capacity import Capacity
from aiplane.plan.address import Address
from aiplane.plan.diff import FieldDiff

FORMAT_VERSION = 2
CHANGED_OUTSIDE = "changed outside aiplane"
"""In a change's reason: the live object was edited by someone else and the change undoes it."""
Action = Literal["create", "update", "replace", "delete", "noop", "drift-expected"]
Disruption = Literal[
    "none", "in-place", "rolling-restart", "recreate", "node-disruptive", "namespace"
]
Mode = Literal["cluster", "offline"]
CHANGING: frozenset[str] = frozenset({"create", "update", "replace", "delete"})
DISRUPTION_ORDER: tuple[str, ...] = get_args(Disruption)
Stage = Literal["crds", "cluster-config", "workloads", "collections", "routes", "workflows"]
STAGES: tuple[Stage, ...] = get_args(Stage)
"""Apply order across providers; prune runs after all stages, in reverse."""


def digest_of(value: Any) -> str:
    """Stable sha256 of a JSON value (sorted keys): desired digests, fingerprints, stack digest."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Pin:
    """What a resource looked like at plan time, so ``apply`` can refuse a stale plan.

    ``version``: a value the provider's backend changes on every write and the provider can read
    back cheaply (Kubernetes: ``resourceVersion``; a registry: the version number; a database: a
    hash of the resource's configuration). ``fingerprint``: a digest of the content, compared
    when the version moved (a write that changed nothing is not stale). ``uid``: the identity of
    this incarnation (a deleted-and-recreated resource is stale even with equal content).
    """

    version: str | None = None
    fingerprint: str | None = None
    uid: str | None = None

    def still(self, now: Pin | None) -> bool:
        """Whether ``now`` (read at apply time) is the state this pin recorded."""
        if now is None:
            return False
        if self.version is not None and now.version == self.version:
            return True
        return (
            now.uid == self.uid and bool(self.fingerprint) and now.fingerprint == self.fingerprint
        )

    def to_json(self) -> dict[str, Any]:
        """The saved form."""
        return {"version": self.version, "fingerprint": self.fingerprint, "uid": self.uid}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any] | None) -> Pin | None:
        """Read ``to_json``'s form (None stays None: the resource did not exist)."""
        if doc is None:
            return None
        return cls(doc.get("version"), doc.get("fingerprint"), doc.get("uid"))


@dataclass(frozen=True)
class DriftNote:
    """A field that differs from the stack because another owner manages it (not a change)."""

    path: str
    owner: str


@dataclass(frozen=True)
class Change:
    """One resource's planned action."""

    action: Action
    address: Address
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
        """Whether apply does something for this change."""
        return self.action in CHANGING

    def to_json(self) -> dict[str, Any]:
        """The saved form."""
        return {
            "action": self.action,
            "address": self.address.to_json(),
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
        """Read ``to_json``'s form back."""
        return cls(
            action=doc["action"],
            address=Address.from_json(doc["address"]),
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

    address: Address
    flag: str
    message: str


def gates_of(
    changes: tuple[Change, ...] | list[Change],
    *,
    allow_disruption: bool,
    allow_delete: bool,
    allow_namespace_delete: bool = False,
) -> list[Gate]:
    """Changes that need ``--allow-disruption`` / ``--allow-delete`` /
    ``--allow-namespace-delete`` and did not get it: a node-disruptive change, a deletion, a
    replacement (delete + create), the deletion of a Namespace (its own class: it takes
    everything in it, owned by aiplane or not)."""
    out = []
    for c in changes:
        if c.disruption == "namespace" and not allow_namespace_delete:
            out.append(Gate(c.address, "--allow-namespace-delete",
                            "namespace deletion (deletes everything in it)"))  # fmt: skip
        if c.disruption == "node-disruptive" and not allow_disruption:
            out.append(Gate(c.address, "--allow-disruption", "node-disruptive change"))
        if c.action in ("delete", "replace") and not allow_delete:
            what = "deletion" if c.action == "delete" else "replacement (delete + create)"
            out.append(Gate(c.address, "--allow-delete", what))
    return out


@dataclass(frozen=True)
class Plan:
    """Everything ``apply`` needs to know to execute exactly what was shown."""

    stack: str
    stack_file: str
    stack_digest: str
    mode: Mode
    target: str
    state_id: str
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
        """Whether apply would do anything."""
        return any(c.changing for c in self.changes)

    def counts(self) -> dict[str, int]:
        """Changes per action, every action present."""
        counted = Counter(c.action for c in self.changes)
        return {a: counted.get(a, 0) for a in get_args(Action)}

    def gates(
        self, *, allow_disruption: bool, allow_delete: bool, allow_namespace_delete: bool = False
    ) -> list[Gate]:
        """Changes that need ``--allow-disruption`` / ``--allow-delete`` /
        ``--allow-namespace-delete`` and did not get it."""
        return gates_of(self.changes, allow_disruption=allow_disruption,
                        allow_delete=allow_delete,
                        allow_namespace_delete=allow_namespace_delete)  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """The saved form (see the module docstring)."""
        return {
            "format_version": self.format_version,
            "aiplane_version": self.aiplane_version,
            "plan_id": self.plan_id,
            "created": self.created,
            "stack": {"name": self.stack, "file": self.stack_file, "digest": self.stack_digest},
            "target": {
                "mode": self.mode,
                "description": self.target,
                "state_id": self.state_id,
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
        """The saved JSON text."""
        return json.dumps(self.to_json(), indent=1, sort_keys=False)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Plan:
        """Read a saved plan; an older or newer format is refused with what to do instead."""
        version = doc.get("format_version")
        if version != FORMAT_VERSION:
            older = isinstance(version, int) and version < FORMAT_VERSION
            hint = "make the plan again with this aiplane" if older else "upgrade aiplane"
            raise AiplaneError(
                f"plan: format_version {version!r} is not supported (this aiplane reads "
                f"{FORMAT_VERSION}); {hint}"
            )
        stack, target = doc["stack"], doc["target"]
        capacity = doc.get("gpu_capacity") or {}
        return cls(
            stack=stack["name"],
            stack_file=stack["file"],
            stack_digest=stack["digest"],
            mode=target["mode"],
            target=target["description"],
            state_id=target["state_id"],
            plan_id=doc["plan_id"],
            created=doc["created"],
            changes=tuple(Change.from_json(c) for c in doc.get("changes", [])),
            warnings=tuple(doc.get("warnings", [])),
            lock_holder=target.get("lock_holder", ""),
            capacity=Capacity.from_json(capacity.get("after")),
            capacity_before=Capacity.from_json(capacity.get("before")),
            format_version=version,
            aiplane_version=doc.get("aiplane_version", ""),
        )

    @classmethod
    def loads(cls, text: str) -> Plan:
        """Parse a saved plan's text."""
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise AiplaneError(f"plan: not valid JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise AiplaneError("plan: not a JSON object")
        return cls.from_json(doc)

    @classmethod
    def load(cls, path: str) -> Plan | None:
        """The saved plan in ``path``, or None when the file is not a saved plan (a stack or a
        manifest bundle): a plan is a ``.json`` file that names its ``format_version`` first."""
        file = Path(path)
        if file.suffix != ".json" or not file.is_file():
            return None
        text = file.read_text()
        if '"format_version"' not in text[:200]:
            return None
        return cls.loads(text)
