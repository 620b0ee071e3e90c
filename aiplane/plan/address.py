"""The address of any resource a stack manages, in any provider.

An ``Address`` is four strings: the provider that owns the resource, its type in that provider,
the scope it lives in ("" when the provider has none) and its name. Kubernetes uses
``type="apps/v1/Deployment"`` (apiVersion and kind) and ``scope`` = the namespace; a vector
database might use ``type="collection"`` and ``scope`` = the database.

How an address reads in messages is fixed here, so every provider's lines look alike:

* a type that is an API path (contains ``/``) reads ``Kind/scope/name`` (``Deployment/ml/llama``,
  ``NodeLabels/a100``), the way ``kubectl`` writes objects;
* any other type reads ``type scope/name`` or ``type name`` (``collection docs``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiplane.errors import AiplaneError


@dataclass(frozen=True, order=True)
class Address:
    """Where one resource lives: provider, type, scope ("" for none), name."""

    provider: str
    type: str
    scope: str
    name: str

    @property
    def kind(self) -> str:
        """The last segment of the type (``Deployment`` for ``apps/v1/Deployment``)."""
        return self.type.rpartition("/")[2]

    def __str__(self) -> str:
        if "/" in self.type:
            return "/".join(p for p in (self.kind, self.scope, self.name) if p)
        where = f"{self.scope}/{self.name}" if self.scope else self.name
        return f"{self.type} {where}"

    def to_json(self) -> dict[str, str]:
        """The JSON form saved in plans (every field, always)."""
        return {"provider": self.provider, "type": self.type, "scope": self.scope,
                "name": self.name}  # fmt: skip

    @classmethod
    def from_json(cls, doc: Mapping[str, str]) -> Address:
        """Read ``to_json``'s form back; a missing field is a clear error, not a KeyError."""
        try:
            return cls(doc["provider"], doc["type"], doc.get("scope", ""), doc["name"])
        except (KeyError, TypeError) as exc:
            raise AiplaneError(f"plan: an address needs provider, type and name: {doc!r}") from exc
