"""Hand-written manifests shaped like the renderer's output, for plan/apply tests (no tests here)."""

from __future__ import annotations

import copy
import json
from typing import Any

CANARY = "canary-5ecret-value-7f3a9c"
SOURCE = "stacks/test.yaml"


def _meta(name: str, ns: str | None, stack: str, subject: str, line: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "labels": {"app.kubernetes.io/managed-by": "aiplane", "aiplane.dev/stack": stack},
        "annotations": {"aiplane.dev/source": f"{SOURCE}#L{line}", "aiplane.dev/subject": subject},
    }
    if ns:
        meta["namespace"] = ns
    return meta


def model_objects(
    stack: str, ns: str, name: str, *, image: str = "vllm/vllm-openai:v0.6.0", line: int = 20
) -> list[dict[str, Any]]:
    subject = f"model {name}"
    labels = {"app": name}
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, ns, stack, subject, line),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "vllm",
                            "image": image,
                            "args": ["--model", name],
                            "ports": [{"containerPort": 8000, "name": "http"}],
                            "env": [
                                {
                                    "name": "HF_TOKEN",
                                    "valueFrom": {
                                        "secretKeyRef": {"name": f"{name}-hf", "key": "token"}
                                    },
                                }
                            ],
                        }
                    ]
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, ns, stack, subject, line),
        "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": 8000}]},
    }
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(name, ns, stack, subject, line),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}},
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(f"{name}-hf", ns, stack, subject, line),
        "type": "Opaque",
        "stringData": {"token": CANARY},
    }
    return [secret, deploy, service, pdb]


def collection(stack: str, ns: str, name: str = "docs", size: int = 768) -> dict[str, Any]:
    body = {"vectors": {"size": size, "distance": "Cosine"}, "shard_number": 1}
    meta = _meta(f"aiplane-collection-{name}", ns, stack, f"collection {name}", 60)
    meta["annotations"]["aiplane.dev/immutable-fields"] = (
        "vectors.size,vectors.distance,shard_number"
    )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {"collection.json": json.dumps(body, sort_keys=True)},
    }


def priority(stack: str) -> dict[str, Any]:
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": _meta(f"{stack}-training", None, stack, "priority training", 5),
        "value": 1000,
        "globalDefault": False,
        "description": "training jobs",
    }


def cluster_policy(stack: str) -> dict[str, Any]:
    return {
        "apiVersion": "nvidia.com/v1",
        "kind": "ClusterPolicy",
        "metadata": _meta(f"{stack}-gpu-policy", None, stack, "pool a100", 8),
        "spec": _sample_policy_spec(),
    }


def _sample_policy_spec() -> dict[str, Any]:
    """The GPU Operator's sample ClusterPolicy spec (its CRD requires most sections)."""
    import os
    from pathlib import Path

    import yaml

    root = Path(os.environ.get("AIPLANE_CRDS_DIR", Path(__file__).parents[3] / "shared" / "crds"))
    doc = yaml.safe_load((root / "gpu-operator" / "sample-clusterpolicy.yaml").read_text())
    spec: dict[str, Any] = _drop_nulls(doc["spec"])
    return spec


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def route(stack: str, ns: str, model: str) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": _meta("chat-completions", ns, stack, "route chat-completions", 70),
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "rules": [{"backendRefs": [{"name": model, "port": 80}]}],
        },
    }


def node_labels(stack: str, pool: str, selector: dict[str, str], mig: str) -> dict[str, Any]:
    return {
        "apiVersion": "aiplane.dev/v1alpha1",
        "kind": "NodeLabels",
        "metadata": _meta(pool, None, stack, f"pool {pool}", 10),
        "spec": {"nodeSelector": selector, "labels": {"nvidia.com/mig.config": mig}},
    }


def stack_manifests(
    stack: str,
    ns: str,
    models: tuple[str, ...] = ("llama", "mistral"),
    *,
    with_policy: bool = False,
    node_selector: dict[str, str] | None = None,
    mig: str = "all-1g.10gb",
    size: int = 768,
    image: str = "vllm/vllm-openai:v0.6.0",
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [priority(stack), collection(stack, ns, size=size)]
    if with_policy:
        out.append(cluster_policy(stack))
    if node_selector:
        out.append(node_labels(stack, "a100", node_selector, mig))
    for i, m in enumerate(models):
        out += model_objects(stack, ns, m, image=image, line=20 + 10 * i)
    out.append(route(stack, ns, models[0]))
    return copy.deepcopy(out)


def bundle(stack: str, items: list[dict[str, Any]]) -> str:
    """A pre-rendered manifest bundle file body that ``aiplane plan``/``apply`` accept."""
    return json.dumps({"apiVersion": "v1", "kind": "List", "metadata": {"name": stack},
                       "items": items})  # fmt: skip
