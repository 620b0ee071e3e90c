"""Flux: one directory per apply stage, and Flux Kustomizations chained with ``dependsOn``.

Flux cannot run aiplane (kustomize-controller builds with plugins disabled), so CI renders and
pushes the directory as an OCI artifact (``flux push artifact``; docs/gitops.md). The layout,
for stack ``S`` in ``DIR``::

    DIR/S/stages/<n>-<stage>/kustomization.yaml    resources: [objects.yaml]
    DIR/S/stages/<n>-<stage>/objects.yaml          the stage's objects
    DIR/S/flux/kustomization.yaml                  resources: [kustomizations.yaml]
    DIR/S/flux/kustomizations.yaml                 one Flux Kustomization per stage

Each stage Kustomization (``S-<stage>``) depends on the one before, waits for its objects to
be healthy (kstatus, plus CEL ``healthCheckExprs`` for kinds kstatus cannot judge, such as the
GPU Operator's ClusterPolicy) and prunes what it applied. Point one bootstrap Kustomization at
``./S/flux``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiplane.gitops.pull import PullObject, PullStack
from aiplane.providers.kubernetes.kinds import STAGES

API_VERSION = "kustomize.toolkit.fluxcd.io/v1"
KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"
# kstatus judges Deployments and conditions; these kinds report health their own way.
HEALTH_EXPRS: dict[str, dict[str, str]] = {
    "ClusterPolicy": {
        "apiVersion": "nvidia.com/v1",
        "kind": "ClusterPolicy",
        "current": "has(status.state) && status.state == 'ready'",
        "inProgress": "!has(status.state) || status.state == 'notReady'",
    },
}
TIMEOUTS = {"crds": "2m", "cluster-config": "20m", "workloads": "30m"}  # GPU drains, model loads


def stage_dir(index: int) -> str:
    return f"{index}-{STAGES[index]}"


def flux_files(
    stack: PullStack, source_kind: str, source_name: str, namespace: str
) -> dict[str, list[dict[str, Any]]]:
    """Relative path -> documents of every file of the stack's Flux layout."""
    by_stage: dict[int, list[PullObject]] = {}
    for obj in stack.objects:
        by_stage.setdefault(obj.stage, []).append(obj)
    files: dict[str, list[dict[str, Any]]] = {}
    chain: list[dict[str, Any]] = []
    previous = ""
    for index in sorted(by_stage):
        folder = f"{stack.name}/stages/{stage_dir(index)}"
        objects = by_stage[index]
        files[f"{folder}/objects.yaml"] = [o.body for o in objects]
        files[f"{folder}/kustomization.yaml"] = [_kustomize(["objects.yaml"])]
        name = f"{stack.name}-{STAGES[index]}"
        source = (source_kind, source_name, namespace)
        chain.append(_kustomization(stack.name, name, folder, previous, objects, source))
        previous = name
    files[f"{stack.name}/flux/kustomizations.yaml"] = chain
    files[f"{stack.name}/flux/kustomization.yaml"] = [_kustomize(["kustomizations.yaml"])]
    return files


def _kustomize(resources: list[str]) -> dict[str, Any]:
    return {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization", "resources": resources}


def _kustomization(
    stack: str,
    name: str,
    folder: str,
    depends_on: str,
    objects: list[PullObject],
    source: tuple[str, str, str],
) -> dict[str, Any]:
    source_kind, source_name, namespace = source
    stage = objects[0].stage_name
    spec: dict[str, Any] = {
        "interval": "10m",
        "path": f"./{folder}",
        "prune": True,
        "wait": True,
        "timeout": TIMEOUTS.get(stage, "10m"),
        "sourceRef": {"kind": source_kind, "name": source_name},
    }
    if depends_on:
        spec["dependsOn"] = [{"name": depends_on}]
    kinds = sorted({o.ref.kind for o in objects if o.ref.kind in HEALTH_EXPRS})
    if kinds:
        spec["healthCheckExprs"] = [HEALTH_EXPRS[k] for k in kinds]
    labels = {"app.kubernetes.io/managed-by": "aiplane", "aiplane.dev/stack": stack}
    return {
        "apiVersion": API_VERSION,
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }


def write_tree(root: Path, files: dict[str, list[dict[str, Any]]], dump: Any) -> None:
    """Write ``files`` (from ``flux_files``) under ``root`` with ``dump(docs) -> text``."""
    for rel, docs in sorted(files.items()):
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dump(docs))
