"""Check, before anything is written, that the credentials may do what the plan needs.

Every missing permission (``rbac.required``) is reported in one run, so a namespace admin fixes
the Role once instead of meeting one 403 per attempt. The namespaced permissions are first
matched against one SelfSubjectRulesReview per namespace (the rules the credentials hold there):
a stack of five kinds in ten namespaces needs 200 permissions, and one access review each cost
a plan about 0.3 s on a local API server. What those rules do not show as allowed is asked with
one SelfSubjectAccessReview each: cluster-scoped permissions, and every permission in a namespace
whose rules review is refused or incomplete (an authorizer besides RBAC, such as a webhook, may
deny what the rules allow). A permission is only ever reported missing by an access review.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiplane.errors import AiplaneError
from aiplane.providers.kubernetes.client import ApiError, KubeClient
from aiplane.providers.kubernetes.rbac import Permission, Purpose, required

SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
SSRR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"
Rules = list[Mapping[str, Any]]


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


def namespace_rules(client: KubeClient, namespace: str) -> Rules:
    """The resource rules the credentials hold in ``namespace`` (empty when the server will not
    say: the access reviews then decide)."""
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
            "spec": {"namespace": namespace}}  # fmt: skip
    try:
        doc = client.request("POST", SSRR_PATH, body=body) or {}
    except ApiError:
        return []
    status = doc.get("status") or {}
    if status.get("incomplete"):  # another authorizer (a webhook) may deny what RBAC allows
        return []
    return [r for r in status.get("resourceRules") or [] if isinstance(r, Mapping)]


def granted(rules: Rules, perm: Permission) -> bool:
    """Whether one of ``rules`` grants ``perm`` (RBAC's matching, wildcards included)."""
    return any(
        _has(rule, "verbs", perm.verb)
        and _has(rule, "apiGroups", perm.group)
        and _has(rule, "resources", perm.resource)
        and (not rule.get("resourceNames") or perm.name in rule["resourceNames"])
        for rule in rules
    )


def _has(rule: Mapping[str, Any], field: str, value: str) -> bool:
    values = rule.get(field) or ()
    return value in values or "*" in values


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
    spaces = sorted({p.namespace for p in perms if p.namespace})
    rules = dict(zip(spaces, client.map(lambda ns: namespace_rules(client, ns), spaces),
                     strict=True))  # fmt: skip
    unsure = [p for p in perms if not (p.namespace and granted(rules[p.namespace], p))]
    answers = client.map(lambda p: allowed(client, p), unsure)
    missing = [p for p, ok in zip(unsure, answers, strict=True) if not ok]
    if missing:
        who = f"context {client.config.context}"
        raise MissingPermissions(
            f"{who}: {len(missing)} permission(s) missing for {purpose}; nothing was changed "
            f"(`aiplane rbac {stack_file}` prints the Roles {purpose} needs)",
            missing,
        )
