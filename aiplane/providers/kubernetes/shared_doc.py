"""A ConfigMap document that several stacks fill: named entries, each set by the stacks that want it.

The GPU Operator's MIG Manager reads one mig-parted file (``config.yaml`` of one ConfigMap), so
every stack's MIG layouts must live in one YAML document. A ConfigMap key is a single field to
server-side apply, so field ownership alone cannot share it. Instead each stack records the
entries it set in an annotation of its own (``mig-configs.aiplane.dev/STACK: a,b``, a field only
that stack's manager holds), and every write is read-merge-write: the live document's entries of
other stacks (and entries nobody recorded, such as a hand-made one) are kept, this stack's are
replaced, and the request carries the live ``resourceVersion`` so a concurrent writer makes it
fail instead of losing an entry. An entry another stack (or a person) set to different content is
a conflict named by its owner; equal content is simply shared.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from aiplane.errors import AiplaneError
from aiplane.providers.kubernetes.labels import MERGE_ANN

Manifest = dict[str, Any]


@dataclass(frozen=True)
class MergeSpec:
    """``data[key]`` is a YAML document whose map ``entries`` is shared by stacks."""

    key: str
    entries: str

    @classmethod
    def parse(cls, text: str) -> MergeSpec | None:
        """``KEY:MAP`` (the ``aiplane.dev/merge-entries`` annotation) or None when absent."""
        key, sep, entries = text.partition(":")
        if not text:
            return None
        if not (sep and key and entries):
            raise AiplaneError(f"annotation {MERGE_ANN}: '{text}' is not KEY:MAP")
        return cls(key, entries)

    def owner_annotation(self, stack: str) -> str:
        """The annotation that lists the entries ``stack`` set."""
        return f"{self.entries}.aiplane.dev/{stack}"

    def owners(self, obj: Mapping[str, Any] | None) -> dict[str, frozenset[str]]:
        """stack -> names of the entries it set, from ``obj``'s annotations."""
        anns = ((obj or {}).get("metadata") or {}).get("annotations") or {}
        prefix = f"{self.entries}.aiplane.dev/"
        return {
            key[len(prefix) :]: frozenset(n for n in str(value).split(",") if n)
            for key, value in anns.items()
            if key.startswith(prefix)
        }

    def document(self, obj: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
        """The parsed document of ``obj`` ({} when there is none)."""
        text = ((obj or {}).get("data") or {}).get(self.key)
        if not text:
            return {}
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise AiplaneError(f"{what}: data.{self.key} is not YAML: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get(self.entries, {}), dict):
            raise AiplaneError(f"{what}: data.{self.key} has no map '{self.entries}'")
        return doc

    def dump(self, doc: Mapping[str, Any]) -> str:
        """The document as render writes it (sorted keys, block style), so equal is byte-equal."""
        return yaml.safe_dump(dict(doc), sort_keys=True, default_flow_style=False)


@dataclass(frozen=True)
class Merged:
    """What one stack applies to the shared document, and what that leaves to others."""

    body: Manifest
    others: tuple[str, ...]  # the other stacks that still hold entries
    conflicts: tuple[str, ...]


def merge_into(
    spec: MergeSpec, desired: Mapping[str, Any], live: Mapping[str, Any] | None, stack: str,
    *, claim_unrecorded: bool = False,
) -> Merged:  # fmt: skip
    """The body ``stack`` applies: the live entries of others kept, its own replaced.
    ``claim_unrecorded``: the document was this stack's alone before entries were recorded (an
    earlier aiplane wrote it whole), so the entries nobody recorded are this stack's."""
    what = _name(desired)
    mine_doc = spec.document(desired, what)
    mine: dict[str, Any] = dict(mine_doc.get(spec.entries) or {})
    owners = spec.owners(live)
    others = {s: names for s, names in owners.items() if s != stack}
    live_entries = dict(spec.document(live, what).get(spec.entries) or {})
    previous = owners.get(stack, frozenset())
    if claim_unrecorded:
        recorded = set().union(*owners.values()) if owners else set()
        previous = previous | frozenset(n for n in live_entries if n not in recorded)
    entries = _kept(live_entries, previous, others)
    conflicts = []
    for name, value in sorted(mine.items()):
        if name in entries and entries[name] != value:
            holders = sorted(s for s, names in others.items() if name in names)
            who = f"stack {', '.join(holders)}" if holders else "someone outside aiplane"
            conflicts.append(f"{spec.entries} entry {name} is set by {who} with other content")
        entries[name] = value
    body = copy.deepcopy(dict(desired))
    body["data"] = {**(body.get("data") or {}),
                    spec.key: spec.dump({**mine_doc, spec.entries: entries})}  # fmt: skip
    meta = body["metadata"]
    meta["annotations"] = {**(meta.get("annotations") or {}),
                           spec.owner_annotation(stack): ",".join(sorted(mine))}  # fmt: skip
    return Merged(body, tuple(sorted(s for s, n in others.items() if n)), tuple(conflicts))


def release_from(spec: MergeSpec, live: Mapping[str, Any], stack: str) -> Merged:
    """The body that takes ``stack``'s entries (and its annotation) out of the live document."""
    what = _name(live)
    owners = spec.owners(live)
    others = {s: names for s, names in owners.items() if s != stack}
    doc = spec.document(live, what)
    entries = _kept(dict(doc.get(spec.entries) or {}), owners.get(stack, frozenset()), others)
    meta = live.get("metadata") or {}
    ident = {k: meta[k] for k in ("name", "namespace") if meta.get(k)}
    body: Manifest = {
        "apiVersion": live.get("apiVersion"),
        "kind": live.get("kind"),
        "metadata": ident,
        "data": {spec.key: spec.dump({**doc, spec.entries: entries})},
    }
    return Merged(body, tuple(sorted(s for s, n in others.items() if n)), ())


def removed_entries(spec: MergeSpec, live: Mapping[str, Any], stack: str) -> list[str]:
    """The entries a release of ``stack`` takes out (those no other stack also set)."""
    owners = spec.owners(live)
    held = set().union(*(n for s, n in owners.items() if s != stack))
    return sorted(owners.get(stack, frozenset()) - held)


def with_precondition(body: Mapping[str, Any], live: Mapping[str, Any] | None) -> Manifest:
    """``body`` carrying the live ``resourceVersion``: the write fails if anyone wrote since."""
    version = ((live or {}).get("metadata") or {}).get("resourceVersion")
    if not version:
        return dict(body)
    return {**body, "metadata": {**body["metadata"], "resourceVersion": version}}


def _kept(
    live_entries: dict[str, Any],
    previously_mine: frozenset[str],
    others: Mapping[str, frozenset[str]],
) -> dict[str, Any]:
    """Live entries that stay: every entry except this stack's own that no other stack holds."""
    held = set().union(*others.values()) if others else set()
    return {n: v for n, v in live_entries.items() if n not in previously_mine or n in held}


def _name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')}/{ns}{meta.get('name')}"
