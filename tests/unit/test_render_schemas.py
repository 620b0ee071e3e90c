"""Every rendered object of every example stack passes its upstream schema.

* Argo kinds: ``argo-workflows/schema.json`` (the definition of the kind, for precise errors).
* CRD kinds (ClusterPolicy, HTTPRoute, AIGatewayRoute, AIServiceBackend, BackendSecurityPolicy,
  Envoy Gateway Backend and BackendTrafficPolicy, Gateway API BackendTLSPolicy): the served
  version's ``openAPIV3Schema`` from the upstream CRD file.
* Envoy AI Gateway ``QuotaPolicy``: its CRD is not in the shared set; its fields are checked by
  hand (``check_quota_policy``).
* Built-in kinds: required structure by hand, and the pod-level pieces (containers, volumes,
  tolerations, PodDisruptionBudgetSpec) against the Kubernetes definitions that Argo's schema
  embeds. A server-side dry-run create is the final word (plan/apply tests).

Schemas are made strict before use: every object schema with ``properties`` and no
``x-kubernetes-preserve-unknown-fields`` rejects unknown keys, as the API server's pruning would
silently drop them (a typo in a field name would otherwise pass).

CRDs are read from ``$AIPLANE_CRDS_DIR`` or ``<repo>/../shared/crds``. Without them these tests
skip on a developer machine and FAIL in CI (``CI`` set), so a CI that lost the CRDs cannot pass.
"""

from __future__ import annotations

import copy
import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

jsonschema = pytest.importorskip("jsonschema")

from aiplane.check import load_and_check  # noqa: E402
from aiplane.render import render_stack  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
STACKS = sorted((REPO / "stacks").glob("*.yaml"))
CRDS = Path(os.environ.get("AIPLANE_CRDS_DIR", REPO.parent / "shared" / "crds"))

CRD_FILES = {
    "ClusterPolicy": "gpu-operator/nvidia.com_clusterpolicies.yaml",
    "HTTPRoute": "gateway-api/gateway.networking.k8s.io_httproutes.yaml",
    "AIGatewayRoute": "envoy-ai-gateway/aigateway.envoyproxy.io_aigatewayroutes.yaml",
    "AIServiceBackend": "envoy-ai-gateway/aigateway.envoyproxy.io_aiservicebackends.yaml",
    "BackendSecurityPolicy": "envoy-ai-gateway/aigateway.envoyproxy.io_backendsecuritypolicies.yaml",
    "Backend": "envoy-gateway/gateway.envoyproxy.io_backends.yaml",
    "BackendTrafficPolicy": "envoy-gateway/gateway.envoyproxy.io_backendtrafficpolicies.yaml",
    "BackendTLSPolicy": "gateway-api/gateway.networking.k8s.io_backendtlspolicies.yaml",
}
ARGO_KINDS = {"WorkflowTemplate", "CronWorkflow"}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")

IN_CI = bool(os.environ.get("CI"))
needs_crds = pytest.mark.skipif(not CRDS.is_dir() and not IN_CI, reason=f"no CRDs at {CRDS}")


def crds_dir() -> Path:
    """The CRD directory; in CI its absence is a failure, not a skip."""
    if not CRDS.is_dir():
        pytest.fail(f"no CRDs at {CRDS}: CI must provide them (../shared/crds or AIPLANE_CRDS_DIR)")
    return CRDS


def strict(schema: Any) -> Any:
    """Copy of ``schema`` where objects with known properties reject unknown keys."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    props = schema.get("properties")
    if (
        isinstance(props, dict)
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
        and all(isinstance(v, dict) for v in props.values())
    ):
        out["additionalProperties"] = False
    return out


@cache
def argo_schema() -> dict[str, Any]:
    schema = strict(json.loads((crds_dir() / "argo-workflows" / "schema.json").read_text()))
    # Argo's generated schema types IntOrString as a string only, but the Go type (and the API
    # server) takes both; a PDB's maxUnavailable must even be an int unless it is a percentage.
    schema["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {
        "type": ["integer", "string"]
    }
    return schema


def argo_validator(definition: str) -> Any:
    schema = argo_schema()
    wrapper = {
        "$schema": schema["$schema"],
        "$ref": f"#/definitions/{definition}",
        "definitions": schema["definitions"],
    }
    return jsonschema.Draft202012Validator(wrapper)


@cache
def crd_validator(kind: str, version: str) -> Any:
    text = (crds_dir() / CRD_FILES[kind]).read_text()
    crd = yaml.safe_load(text)
    for served in crd["spec"]["versions"]:
        if served["name"] == version:
            assert served.get("served", True), f"{kind} {version} is not served"
            return jsonschema.Draft7Validator(strict(served["schema"]["openAPIV3Schema"]))
    raise AssertionError(f"{kind}: version {version} not in the CRD")


def check_quota_policy(obj: dict[str, Any]) -> list[str]:
    """Envoy AI Gateway's QuotaPolicy (v1alpha1): its CRD is not in the shared set, so the
    fields of ``api/v1alpha1/quota_policy.go`` at v1.1.0 are checked here by hand."""
    problems = check_metadata(obj, cluster_scoped=False)
    spec = obj["spec"]
    if set(spec) - {"targetRefs", "perModelQuotas"}:
        problems.append(f"unknown fields {sorted(set(spec) - {'targetRefs', 'perModelQuotas'})}")
    refs = spec.get("targetRefs") or []
    if not 1 <= len(refs) <= 16 or any(
        (r.get("group"), r.get("kind")) != ("aigateway.envoyproxy.io", "AIServiceBackend")
        for r in refs
    ):
        problems.append("targetRefs: 1-16 AIServiceBackends")
    for quota in spec.get("perModelQuotas") or []:
        value = quota.get("quota") or {}
        bucket = value.get("defaultBucket") or {}
        if set(quota) - {"modelName", "quota"} or set(value) - {"costExpression", "mode",
                                                               "defaultBucket", "bucketRules"}:  # fmt: skip
            problems.append("perModelQuotas: unknown fields")
        if value.get("mode") != "Shared" or bucket.get("duration") not in ("1s", "1m", "1h", "1d"):
            problems.append("quota: mode Shared, duration one of 1s/1m/1h/1d")
        if not isinstance(bucket.get("limit"), int) or bucket["limit"] <= 0:
            problems.append("quota: defaultBucket.limit must be a positive integer")
    return problems


@cache
def rendered(stack: str) -> tuple[dict[str, Any], ...]:
    return tuple(render_stack(load_and_check(stack)))


def _errors(validator: Any, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def check_metadata(obj: dict[str, Any], cluster_scoped: bool) -> list[str]:
    meta = obj.get("metadata", {})
    problems = []
    name = meta.get("name", "")
    if not DNS_SUBDOMAIN.match(name) or len(name) > 253:
        problems.append(f"bad name {name!r}")
    if cluster_scoped == ("namespace" in meta):
        problems.append(
            "namespace " + ("set on a cluster-scoped object" if cluster_scoped else "missing")
        )
    for key, value in {**meta.get("labels", {}), **meta.get("annotations", {})}.items():
        if not isinstance(value, str):
            problems.append(f"{key}: value must be a string")
    for key, value in meta.get("labels", {}).items():
        if len(value) > 63 or not re.match(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$", value):
            problems.append(f"label {key}={value!r} is not a valid label value")
    return problems


def check_pod_spec(pod: dict[str, Any]) -> list[str]:
    problems = []
    defs = "io.k8s.api.core.v1."
    for c in pod.get("containers", []):
        problems += _errors(argo_validator(defs + "Container"), c)
        for key, value in c.get("resources", {}).get("limits", {}).items():
            if not isinstance(value, str):
                problems.append(f"limit {key} must be a quantity string")
    for v in pod.get("volumes", []):
        problems += _errors(argo_validator(defs + "Volume"), v)
    for t in pod.get("tolerations", []):
        problems += _errors(argo_validator(defs + "Toleration"), t)
    mounts = {m["name"] for c in pod["containers"] for m in c.get("volumeMounts", [])}
    volumes = {v["name"] for v in pod.get("volumes", [])}
    if mounts - volumes:
        problems.append(f"mounts without volumes: {mounts - volumes}")
    return problems


def check_builtin(obj: dict[str, Any]) -> list[str]:
    kind = obj["kind"]
    cluster_scoped = kind in ("Namespace", "PriorityClass")
    problems = check_metadata(obj, cluster_scoped)
    spec = obj.get("spec", {})
    if kind == "Deployment":
        assert obj["apiVersion"] == "apps/v1"
        selector = spec["selector"]["matchLabels"]
        labels = spec["template"]["metadata"]["labels"]
        if any(labels.get(k) != v for k, v in selector.items()):
            problems.append("selector does not match the pod template labels")
        problems += check_pod_spec(spec["template"]["spec"])
    elif kind == "Service":
        assert obj["apiVersion"] == "v1"
        if not DNS_LABEL.match(obj["metadata"]["name"]):
            problems.append("Service names must be DNS-1035 labels")
        if not spec.get("ports") or not spec.get("selector"):
            problems.append("Service needs ports and a selector")
    elif kind == "PodDisruptionBudget":
        assert obj["apiVersion"] == "policy/v1"
        problems += _errors(argo_validator("io.k8s.api.policy.v1.PodDisruptionBudgetSpec"), spec)
    elif kind == "HorizontalPodAutoscaler":
        assert obj["apiVersion"] == "autoscaling/v2"
        if spec.get("maxReplicas", 0) < spec.get("minReplicas", 1) or not spec.get(
            "scaleTargetRef"
        ):
            problems.append("HPA needs scaleTargetRef and maxReplicas >= minReplicas")
    elif kind == "ConfigMap":
        if not all(isinstance(v, str) for v in obj.get("data", {}).values()):
            problems.append("ConfigMap data values must be strings")
    elif kind == "PriorityClass":
        assert obj["apiVersion"] == "scheduling.k8s.io/v1"
        if not isinstance(obj.get("value"), int):
            problems.append("PriorityClass needs an integer value")
        if obj.get("preemptionPolicy") not in ("PreemptLowerPriority", "Never"):
            problems.append("bad preemptionPolicy")
    elif kind == "Namespace" and not DNS_LABEL.match(obj["metadata"]["name"]):
        problems.append("Namespace names must be DNS labels")
    return problems


# Python equivalents of the CEL rules (x-kubernetes-validations) that apply to what aiplane
# emits; a JSON-Schema validator does not evaluate CEL.
_BSP_FIELDS = {
    "APIKey": "apiKey",
    "AnthropicAPIKey": "anthropicAPIKey",
    "AzureAPIKey": "azureAPIKey",
    "AWSCredentials": "awsCredentials",
    "AzureCredentials": "azureCredentials",
    "GCPCredentials": "gcpCredentials",
}
_ONCE = {"URLRewrite", "RequestRedirect", "RequestHeaderModifier", "ResponseHeaderModifier", "CORS"}


def cel_equivalents(obj: dict[str, Any]) -> list[str]:
    kind, spec = obj["kind"], obj.get("spec", {})
    problems = []
    if kind in ("HTTPRoute", "AIGatewayRoute"):
        names = [r["name"] for r in spec.get("rules", []) if "name" in r]
        if len(names) != len(set(names)):
            problems.append("rule names must be unique")
        for rule in spec["rules"]:
            if not rule.get("backendRefs"):
                problems.append(f"rule {rule.get('name')} has no backendRefs")
    if kind == "HTTPRoute":
        for rule in spec["rules"]:
            types = [f["type"] for f in rule.get("filters", [])]
            if any(types.count(t) > 1 for t in _ONCE):
                problems.append("a non-repeatable filter is repeated")
            for f in rule.get("filters", []):
                if f["type"] != "URLRewrite" or "replacePrefixMatch" not in f["urlRewrite"]["path"]:
                    continue
                prefixes = [m for m in rule.get("matches", []) if m["path"]["type"] == "PathPrefix"]
                if len(rule.get("matches", [])) != 1 or len(prefixes) != 1:
                    problems.append("replacePrefixMatch needs exactly one PathPrefix match")
            if any(
                "port" not in r
                for r in rule.get("backendRefs", [])
                if r.get("kind", "Service") == "Service"
            ):
                problems.append("Service backendRefs need a port")
    if kind == "AIGatewayRoute":
        if any(p.get("kind") != "Gateway" for p in spec["parentRefs"]):
            problems.append("only Gateway parents are supported")
        if any(r.get("name") == "route-not-found" for r in spec["rules"]):
            problems.append("rule name route-not-found is reserved")
        for rule in spec["rules"]:
            if any("group" in r or "kind" in r for r in rule.get("backendRefs", [])):
                problems.append("backendRefs must be AIServiceBackends (no group/kind)")
    if kind == "AIServiceBackend":
        ref = spec["backendRef"]
        if (ref.get("group"), ref.get("kind")) != ("gateway.envoyproxy.io", "Backend"):
            problems.append("backendRef must be an Envoy Gateway Backend")
    if kind == "BackendSecurityPolicy":
        present = {f for f in _BSP_FIELDS.values() if f in spec}
        if present != {_BSP_FIELDS[spec["type"]]}:
            problems.append(f"type {spec['type']} needs exactly its own credentials field")
    if kind == "BackendTrafficPolicy":
        for ref in spec["targetRefs"]:
            if ref["group"] != "gateway.networking.k8s.io" or ref["kind"] not in (
                "Gateway",
                "HTTPRoute",
                "GRPCRoute",
            ):
                problems.append("BackendTrafficPolicy targets Gateways and routes only")
        for rule in spec.get("rateLimit", {}).get("global", {}).get("rules", []):
            for cost in rule.get("cost", {}).values():
                if ("number" in cost) == ("metadata" in cost):
                    problems.append("a cost takes exactly one of number or metadata")
    return problems


def validate(obj: dict[str, Any]) -> list[str]:
    return _validate_schema(obj) + cel_equivalents(obj)


def _validate_schema(obj: dict[str, Any]) -> list[str]:
    kind = obj["kind"]
    if kind in ARGO_KINDS:
        return _errors(argo_validator(f"io.argoproj.workflow.v1alpha1.{kind}"), obj)
    if kind in CRD_FILES:
        version = obj["apiVersion"].split("/")[1]
        return _errors(crd_validator(kind, version), obj)
    if kind == "QuotaPolicy":
        return check_quota_policy(obj)
    if kind == "NodeLabels":
        spec = obj["spec"]
        ok = spec.get("nodeSelector") and spec.get("labels")
        return (
            []
            if ok and all(isinstance(v, str) for v in spec["labels"].values())
            else ["bad NodeLabels"]
        )
    return check_builtin(obj)


CASES = [pytest.param(str(stack.relative_to(REPO)), id=stack.stem) for stack in STACKS]


@needs_crds
@pytest.mark.parametrize("stack", CASES)
def test_every_object_passes_its_schema(stack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    failures = {}
    for obj in rendered(stack):
        problems = validate(obj)
        if problems:
            failures[f"{obj['kind']}/{obj['metadata']['name']}"] = problems[:5]
    assert not failures, yaml.safe_dump(failures)


@needs_crds
def test_strict_schemas_catch_a_misspelt_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check is not vacuous: a typo'd key or a removed field is rejected."""
    monkeypatch.chdir(REPO)
    objs = rendered("stacks/seed.yaml")
    route = copy.deepcopy(next(o for o in objs if o["kind"] == "AIGatewayRoute"))
    route["spec"]["rules"][0]["backendRef"] = route["spec"]["rules"][0].pop("backendRefs")
    assert validate(route)
    template = copy.deepcopy(next(o for o in objs if o["kind"] == "WorkflowTemplate"))
    template["spec"]["templates"][0]["nodeSelektor"] = {}
    assert validate(template)
    policy = copy.deepcopy(next(o for o in objs if o["kind"] == "ClusterPolicy"))
    del policy["spec"]["toolkit"]
    assert validate(policy)
    cron = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": {"name": "x"},
        "spec": {"schedule": "* * * * *", "workflowSpec": {"workflowTemplateRef": {"name": "x"}}},
    }
    assert validate(cron)  # v4 removed the singular 'schedule'
    bsp = copy.deepcopy(next(o for o in objs if o["kind"] == "BackendSecurityPolicy"))
    bsp["spec"]["type"] = "AzureAPIKey"
    assert "type AzureAPIKey needs exactly its own credentials field" in validate(bsp)
