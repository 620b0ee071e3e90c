"""kubectl itself accepts what ``aiplane render`` hands other appliers: the JSON ``List`` and the
``-o DIR`` tree (its record and node-label script skipped), with every CRD of ../shared/crds
installed. Server-side dry run, so nothing is written."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[2]


# ../shared/crds has no CRD for Envoy AI Gateway's QuotaPolicy (the seed's daily budget), so the
# server would answer "no matches for kind". These tests are about kubectl taking aiplane's
# formats (a List, a directory), not about that schema (its fields are checked in
# tests/unit/test_render_schemas.py), so the kind is served here by a schemaless CRD for their duration.
_QUOTA_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "quotapolicies.aigateway.envoyproxy.io"},
    "spec": {
        "group": "aigateway.envoyproxy.io",
        "scope": "Namespaced",
        "names": {"kind": "QuotaPolicy", "plural": "quotapolicies",
                  "singular": "quotapolicy", "listKind": "QuotaPolicyList"},
        "versions": [{
            "name": "v1alpha1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object",
                                           "x-kubernetes-preserve-unknown-fields": True}},
        }],
    },
}  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def quota_policy_served(kubectl: Any) -> Iterator[None]:
    name = _QUOTA_CRD["metadata"]["name"]
    if kubectl("get", "crd", name, check=False).returncode == 0:
        yield  # the kind is already served: leave it as it is
        return
    kubectl("apply", "-f", "-", input=json.dumps(_QUOTA_CRD))
    kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")
    try:
        yield
    finally:
        kubectl("delete", "crd", name, "--wait=true", check=False)


def _render(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aiplane", "render", "stacks/seed.yaml", *args],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip


def _namespaces(kubectl: Any, objects: list[dict[str, Any]]) -> None:
    # Server-side dry run does not create the Namespace object it is also given.
    for ns in {o["metadata"].get("namespace") for o in objects} - {None}:
        kubectl("create", "namespace", ns, check=False)


def test_kubectl_accepts_the_json_list(kubectl: Any) -> None:
    doc = json.loads(_render("--format", "json").stdout)
    _namespaces(kubectl, doc["items"])
    out = kubectl("apply", "--dry-run=server", "-f", "-", "-o", "name", input=json.dumps(doc))
    applied = out.stdout.split()
    assert len(applied) == len(doc["items"])
    assert any(name.startswith("clusterpolicy") for name in applied)


def test_kubectl_accepts_the_out_directory(kubectl: Any, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    _render("-o", str(out_dir))
    assert (out_dir / ".aiplane-render").is_file() and (out_dir / "node-labels.sh").is_file()
    objects = [yaml.safe_load(path.read_text()) for path in out_dir.rglob("*.yaml")]
    _namespaces(kubectl, objects)
    res = kubectl("apply", "--dry-run=server", "-R", "-f", str(out_dir), "-o", "name")
    assert len(res.stdout.split()) == len(objects)
