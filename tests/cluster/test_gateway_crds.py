"""Rendered gateway objects against the real kube-apiserver and the upstream CRDs installed there.

Every Envoy AI Gateway / Envoy Gateway / Gateway API object of the seed's route and every object
of the LiteLLM example stack is created with a server-side dry run in a fresh namespace: the API
server validates each against the CRD's schema and its CEL rules (and the built-in kinds against
Kubernetes), and rejects unknown fields (``--validate=strict``). QuotaPolicy's CRD is not in the
shared CRD set, so the server must not know the kind; it is checked by hand in the unit tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from aiplane.check import load_and_check
from aiplane.render import render_stack

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[2]
ROUTE_KINDS = {
    "AIGatewayRoute",
    "AIServiceBackend",
    "Backend",
    "BackendSecurityPolicy",
    "BackendTLSPolicy",
    "BackendTrafficPolicy",
    "HTTPRoute",
    "ConfigMap",
    "Deployment",
    "Service",
}


def _objects(stack: str, namespace: str, subject_prefix: tuple[str, ...]) -> list[dict[str, Any]]:
    out = []
    for obj in render_stack(load_and_check(str(REPO / "stacks" / stack))):
        subject = obj["metadata"].get("annotations", {}).get("aiplane.dev/subject", "")
        if obj["kind"] in ROUTE_KINDS and subject.startswith(subject_prefix):
            obj["metadata"]["namespace"] = namespace
            out.append(obj)
    return out


@pytest.mark.parametrize(
    ("stack", "subjects", "kinds"),
    [
        ("seed.yaml", ("route ",), {"AIGatewayRoute", "BackendTrafficPolicy", "Backend"}),
        ("gateway.yaml", ("route ", "gateway "), {"Deployment", "ConfigMap", "HTTPRoute"}),
    ],
)
def test_gateway_objects_pass_the_apiserver(
    kubectl: Any, namespace: str, tmp_path: Path, stack: str, subjects: tuple[str, ...],
    kinds: set[str],
) -> None:  # fmt: skip
    objs = _objects(stack, namespace, subjects)
    assert kinds <= {o["kind"] for o in objs}
    path = tmp_path / "objects.yaml"
    path.write_text(yaml.safe_dump_all(objs, sort_keys=False))
    res = kubectl("create", "--dry-run=server", "--validate=strict", "-f", str(path), check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("(server dry run)") == len(objs), res.stdout


def test_quota_policy_crd_is_not_installed_here(kubectl: Any) -> None:
    res = kubectl("api-resources", "--api-group=aigateway.envoyproxy.io", "-o", "name")
    assert "aigatewayroutes.aigateway.envoyproxy.io" in res.stdout
    assert "quotapolicies" not in res.stdout
