"""Check, before anything is written, that the credentials may do what the plan needs.

One SelfSubjectAccessReview per permission (``rbac.required``), sent concurrently; every missing
permission is reported in one run, so a namespace admin fixes the Role once instead of meeting
one 403 per attempt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiplane.errors import AiplaneError
from aiplane.providers.kubernetes.client import KubeClient
from aiplane.providers.kubernetes.rbac import Permission, Purpose, required

SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


class MissingPermissions(AiplaneError):
    """The credentials lack permissions; ``report.lines()`` lists each one."""

    def __init__(self, message: str, missing: Sequence[Permission]) -> None:
        super().__init__(message)
        self.report = _Lines([p.missing_text() for p in missing])


class _Lines:
    def __init__(self, lines: list[str]) -> None:
        self._lines = lines

    def lines(self) -> list[str]:
        return self._lines


def allowed(client: KubeClient, perm: Permission) -> bool:
    """Ask the API server whether the current credentials may do ``perm``."""
    attrs: dict[str, str] = {"verb": perm.verb, "group": perm.group, "resource": perm.resource}
    if perm.namespace:
        attrs["namespace"] = perm.namespace
    if perm.name:
        attrs["name"] = perm.name
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attrs}}  # fmt: skip
    doc = client.request("POST", SSAR_PATH, body=body) or {}
    return bool((doc.get("status") or {}).get("allowed"))


def check_access(
    client: KubeClient,
    manifests: Sequence[Mapping[str, Any]],
    purpose: Purpose,
    *,
    system_namespace: str,
    stack_file: str,
) -> None:
    """Raise ``MissingPermissions`` listing everything ``purpose`` needs and may not do."""

    def resolve(api_version: str, kind: str) -> tuple[str, bool] | None:
        res = client.resource(api_version, kind)
        return None if res is None else (res.plural, res.namespaced)

    perms = required(manifests, purpose, system_namespace=system_namespace, resolve=resolve)
    answers = client.map(lambda p: allowed(client, p), perms)
    missing = [p for p, ok in zip(perms, answers, strict=True) if not ok]
    if missing:
        who = f"context {client.config.context}"
        raise MissingPermissions(
            f"{who}: {len(missing)} permission(s) missing for {purpose}; nothing was changed "
            f"(`aiplane rbac {stack_file}` prints the Roles {purpose} needs)",
            missing,
        )
