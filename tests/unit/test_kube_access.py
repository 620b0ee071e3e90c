"""The access preflight: rules reviews settle what RBAC grants per namespace; everything they do
not show as allowed is asked with an access review, which alone may call a permission missing."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from aiplane.providers.kubernetes.access import (
    SSAR_PATH,
    SSRR_PATH,
    MissingPermissions,
    check_access,
    granted,
)
from aiplane.providers.kubernetes.client import ApiError, Resource
from aiplane.providers.kubernetes.rbac import Permission

MANIFESTS = [
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "m", "namespace": ns}}
    for ns in ("a", "b")
]


class Config:
    context = "test"


class FakeClient:
    """Answers rules reviews from ``rules`` (per namespace) and access reviews from ``allow``."""

    def __init__(self, rules: dict[str, Any], allow: Callable[[dict[str, str]], bool]) -> None:
        self.rules = rules
        self.allow = allow
        self.config = Config()
        self.reviews: list[dict[str, str]] = []

    def resource(self, api_version: str, kind: str) -> Resource | None:
        return None  # plurals and scope from the manifests

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        return [fn(x) for x in items]

    def request(self, method: str, path: str, *, body: dict[str, Any]) -> dict[str, Any]:
        if path == SSRR_PATH:
            answer = self.rules.get(body["spec"]["namespace"])
            if isinstance(answer, Exception):
                raise answer
            return {"status": answer or {"resourceRules": []}}
        assert path == SSAR_PATH
        attrs = body["spec"]["resourceAttributes"]
        self.reviews.append(attrs)
        return {"status": {"allowed": self.allow(attrs)}}


def run(client: FakeClient) -> None:
    check_access(client, MANIFESTS, "plan", system_namespace="sys", stack_file="s.yaml")  # type: ignore[arg-type]


ADMIN = {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]}


def test_rules_that_grant_everything_leave_only_cluster_scoped_reviews() -> None:
    client = FakeClient({"a": ADMIN, "b": ADMIN, "sys": ADMIN}, allow=lambda attrs: True)
    run(client)
    assert all("namespace" not in r for r in client.reviews)  # namespaces get NAME only
    assert sorted(r["name"] for r in client.reviews) == ["a", "b"]


@pytest.mark.parametrize(
    "answer",
    [
        {**ADMIN, "incomplete": True},  # another authorizer may deny: reviews decide
        ApiError(403, "Forbidden", "no rules reviews here", []),
    ],
)
def test_an_incomplete_or_refused_rules_review_falls_back_to_access_reviews(answer: Any) -> None:
    client = FakeClient({"a": answer, "b": ADMIN, "sys": ADMIN}, allow=lambda attrs: True)
    run(client)
    in_a = sorted(r["verb"] for r in client.reviews if r.get("namespace") == "a")
    assert in_a == ["create", "get", "list", "patch"]
    assert not [r for r in client.reviews if r.get("namespace") == "b"]


def test_missing_permissions_come_from_access_reviews_only() -> None:
    # rules show nothing for deployments in b; the access review confirms only `list` is denied
    rules = {"a": ADMIN, "sys": ADMIN, "b": {"resourceRules": [
        {"verbs": ["get", "create", "patch"], "apiGroups": ["apps"], "resources": ["pods"]}]}}  # fmt: skip
    client = FakeClient(rules, allow=lambda attrs: attrs["verb"] != "list")
    with pytest.raises(MissingPermissions) as caught:
        run(client)
    assert caught.value.report.lines() == ["cannot list deployments.apps in b"]


@pytest.mark.parametrize(
    ("rule", "ok"),
    [
        ({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments"]}, True),
        ({"verbs": ["*"], "apiGroups": ["apps"], "resources": ["deployments"]}, True),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["deployments"]}, False),
        ({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments/status"]}, False),
        ({"verbs": ["list"], "apiGroups": ["apps"], "resources": ["*"]}, False),
        (
            {
                "verbs": ["get"],
                "apiGroups": ["apps"],
                "resources": ["deployments"],
                "resourceNames": ["other"],
            },
            False,
        ),
    ],
)
def test_rule_matching(rule: dict[str, Any], ok: bool) -> None:
    assert granted([rule], Permission("a", "apps", "deployments", "get")) is ok


def test_a_named_rule_grants_only_that_name() -> None:
    rule = {"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"],
            "resourceNames": ["parent"]}  # fmt: skip
    assert granted([rule], Permission("sys", "", "configmaps", "get", "parent"))
    assert not granted([rule], Permission("sys", "", "configmaps", "get"))
