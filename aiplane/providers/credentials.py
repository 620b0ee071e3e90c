"""Credentials for stores: resolved at connect time, never printed, scrubbed from errors."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from aiplane.errors import AiplaneError

SecretReader = Callable[[str, str], str]
"""(secret name, key) -> value, read from the stack namespace (given by the CLI when a cluster
is at hand)."""


class StoreError(AiplaneError):
    """A store cannot be used: one located line, exit 1."""


def resolve(
    source: Mapping[str, str] | None,
    what: str,
    *,
    env: Mapping[str, str] | None = None,
    secrets: SecretReader | None = None,
) -> str | None:
    """The credential value from ``{env}`` or ``{secretName, secretKey}``; None when unset.

    Raises ``LookupError`` with a message naming the source (never a value) when it is missing.
    """
    if source is None:
        return None
    if "env" in source:
        value = (os.environ if env is None else env).get(source["env"])
        if value is None:
            raise LookupError(f"{what} comes from ${source['env']}, which is not set")
        return value
    if secrets is None:
        raise LookupError(
            f"{what} comes from Secret {source['secretName']}, which needs a cluster to read"
            " (use {env: NAME} to plan without one)"
        )
    try:
        return secrets(source["secretName"], source["secretKey"])
    except KeyError:
        raise LookupError(
            f"{what}: Secret {source['secretName']} has no key {source['secretKey']}"
        ) from None


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` with every given secret value replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
