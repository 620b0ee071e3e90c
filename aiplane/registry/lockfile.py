"""``aiplane.lock``: every registry reference a stack uses, pinned to what it resolved to.

The lock lives beside the stack file and is committed with it, so that ``render`` and ``plan``
give the same weights on every machine and pull-mode GitOps can render without network. Format
(JSON, documented in the README):

.. code-block:: json

    {
      "lockVersion": 1,
      "references": [
        {"registry": "mlflow", "registry_type": "mlflow", "reference": "mlflow://llama@production",
         "model": "llama", "alias": "production", "version": "7",
         "artifact_uri": "s3://models/llama/7", "run_id": "3f2a91c...", "status": "READY",
         "created": "2026-11-20T10:02:00Z", "last_updated": "2026-11-20T10:02:00Z",
         "resolved_at": "2026-12-05T23:10:00Z"}
      ]
    }

Entries are sorted by registry then reference, keys sorted, two-space indent and a final
newline: the same content always writes the same bytes. Updating keeps an entry byte-for-byte
(its ``resolved_at`` included) when the reference still names the same version, so a refresh
that finds nothing moved leaves the file untouched.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from aiplane.errors import AiplaneError
from aiplane.providers.resolved import RefKey, Resolutions, ResolvedVersion

LOCK_NAME = "aiplane.lock"
LOCK_VERSION = 1


def lock_path(stack_file: str) -> Path:
    """``aiplane.lock`` in the stack file's directory."""
    return Path(stack_file).resolve().parent / LOCK_NAME


def read_lock(path: Path) -> Resolutions:
    """The entries of the lock at ``path``; an absent file is an empty lock."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise AiplaneError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text)
        if data.get("lockVersion") != LOCK_VERSION:
            raise ValueError(f"lockVersion {data.get('lockVersion')!r} is not {LOCK_VERSION}")
        entries = [ResolvedVersion.from_json(item) for item in data["references"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AiplaneError(
            f"{path}: not a valid aiplane lock file ({exc}); "
            "regenerate it with `aiplane lock update STACK`"
        ) from None
    return {entry.key: entry for entry in entries}


def dumps_lock(entries: Iterable[ResolvedVersion]) -> str:
    """The lock file's text for ``entries`` (deterministic)."""
    ordered = sorted(entries, key=lambda e: (e.registry, e.reference))
    doc = {"lockVersion": LOCK_VERSION, "references": [e.to_json() for e in ordered]}
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def merge_lock(old: Resolutions, fresh: Resolutions) -> Resolutions:
    """``old`` updated with ``fresh``, keeping an old entry whose target did not change."""
    merged = dict(old)
    for key, entry in fresh.items():
        before = old.get(key)
        if before is None or not before.same_target(entry):
            merged[key] = entry
    return merged


def write_lock(path: Path, entries: Resolutions) -> bool:
    """Write the lock when its text changes; True when it did."""
    text = dumps_lock(entries.values())
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except OSError:
        pass
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # atomic: a reader never sees half a lock
    return True


def lookup(entries: Resolutions, key: RefKey) -> ResolvedVersion | None:
    return entries.get(key)
