"""Keep secret values out of every output, for every provider: the one scrubber.

Two layers: (1) diffs of Secrets never carry values (``mask_secret_value``); (2) a ``Scrubber``
learns every Secret value seen (desired and live, raw and base64) and removes it from any text
before it is printed or written, as a safety net for server error messages and the like. Every
provider teaches it the credentials it reads or sends (``learn``); every printed line passes it.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
_SECRET_FIELDS = ("data", "stringData")
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_MIN_LEN = 4


def is_secret_path(path: str) -> bool:
    """Whether a diff path of a Secret holds secret material."""
    head = path.split(".", 1)[0].split("[", 1)[0]
    return head in _SECRET_FIELDS or _LAST_APPLIED in path


def mask_secret_value(value: Any, side: str) -> Any:
    """The shown form of a secret value: ``*** (before)`` / ``*** (after)``; None stays None."""
    return None if value is None else f"{MASK} ({side})"


def redact_secret_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a Secret with every data/stringData value masked (for display of whole objects)."""
    out = dict(obj)
    for field in _SECRET_FIELDS:
        if isinstance(out.get(field), dict):
            out[field] = dict.fromkeys(out[field], MASK)
    meta = out.get("metadata")
    if isinstance(meta, dict) and _LAST_APPLIED in (meta.get("annotations") or {}):
        anns = {**meta["annotations"], _LAST_APPLIED: MASK}
        out["metadata"] = {**meta, "annotations": anns}
    return out


class Scrubber:
    """Collects secret values and replaces them in text with ``***``."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def learn_secret(self, obj: Mapping[str, Any]) -> None:
        """Remember the values of a Secret manifest or live object."""
        values: list[str] = []
        for key in ("stringData", "data"):
            for v in (obj.get(key) or {}).values():
                if isinstance(v, str):
                    values.append(v)
                    values.extend(_decoded_and_encoded(v, encoded=key == "data"))
        self.learn(values)

    def learn(self, values: Iterable[str]) -> None:
        with self._lock:
            new = {v for v in values if isinstance(v, str) and len(v) >= _MIN_LEN}
            new |= {line for v in new for line in v.splitlines() if len(line) >= 8}
            if new - self._values:
                self._values |= new
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None else text


def _decoded_and_encoded(value: str, *, encoded: bool) -> list[str]:
    """For ``data`` values also the decoded text; for ``stringData`` also the base64 form."""
    if not encoded:
        return [base64.b64encode(value.encode()).decode()]
    try:
        return [base64.b64decode(value, validate=True).decode()]
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return []
