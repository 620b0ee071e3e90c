"""``spec.models`` → vLLM serving objects, one set per deployed model version.

For each entry of ``model.deployments`` (a version at a stage) this renders a Deployment, a
Service, a PodDisruptionBudget and, with ``autoscaling``, a HorizontalPodAutoscaler, all named
``<model>-<stage>``. Names follow the stage, not the version, so promoting a new version is an
in-place rolling update and the Service that routes point at never changes; the Deployment's
selector (immutable in Kubernetes) therefore holds model and stage only, while the pod labels also
carry the version.

GPUs: ``resources: {gpus}`` / ``{migProfile}`` are taken as written. ``resources: auto`` takes the
GPU placement planner's slice (``nvidia.com/mig-<profile>: 1`` under the mixed strategy,
``nvidia.com/gpu: 1`` under single, ``nvidia.com/gpu: N`` for whole GPUs) and node selector, and
the Deployment says so in ``aiplane.dev/placement: <slice> (planner)``. A model the planner
could not place fails the render at its ``resources``, with the planner's reason. In a
``mig: auto`` pool whose nodes need different layouts, every model whose replicas the planner put
in one node group also selects ``aiplane.dev/node-group`` (see ``placement.py``).

Traffic split design: a model with two or more deployments also gets an HTTPRoute ``<model>`` on
its gateway, matching ``/models/<model>/...`` (rewritten to ``/...``) with the stage Services as
weighted backendRefs (and a RequestMirror for a shadow stage). Routes in ``spec.routes`` that send
traffic to the model do not go through this HTTPRoute: ``routes.py`` expands a local backend into
the same stage Services with the weights multiplied out, so there is one hop, not two.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aiplane.providers.kubernetes.labels import DRIFT_ANN
from aiplane.render.common import Context, Obj, k8s_name
from aiplane.render.placement import (
    check_placed,
    model_placement,
)
from aiplane.render.vllm_extras import model_extras, scrape_annotations
from aiplane.render.vllm_pod import PORT, pod_spec
from aiplane.render.vllm_sizing import rollout, startup_budget_seconds
from aiplane.render.weight_terms import version_terms, weights_annotation
from aiplane.stack.models import (
    Autoscaling,
    Deployment,
    Model,
    ModelVersion,
    StackSpec,
)

if TYPE_CHECKING:
    from aiplane.gpu.stack_placement import ModelPlacement


def service_name(model: str, stage: str) -> str:
    """The Service (and Deployment) of one model stage; routes point here.

    Service names must start with a letter (DNS-1035), model names may start with a digit.
    """
    name = k8s_name(model, stage)
    return name if name[0].isalpha() else k8s_name("m", model, stage)


def render_vllm(ctx: Context) -> list[Obj]:
    out: list[Obj] = []
    for m_index, model in enumerate(ctx.loaded.stack.spec.models):
        for d_index, dep in enumerate(model.deployments):
            version = model.version(dep.version)
            if version is None:
                ctx.warn(
                    ("spec", "models", m_index, "deployments", d_index, "version"),
                    f"unknown version '{dep.version}'; nothing rendered for it",
                )
                continue
            out.extend(_stage_objects(ctx, m_index, model, d_index, dep, version))
        if len(model.deployments) > 1:
            out.append(_model_route(ctx, m_index, model))
        out.extend(model_extras(ctx, m_index, model))
    return out


def _labels(model: Model, dep: Deployment) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "vllm",
        "aiplane.dev/model": model.name,
        "aiplane.dev/stage": dep.stage,
    }


def _stage_objects(
    ctx: Context, m_index: int, model: Model, d_index: int, dep: Deployment, version: ModelVersion
) -> list[Obj]:
    path = ("spec", "models", m_index, "deployments", d_index)
    name = service_name(model.name, dep.stage)
    subject = f"model {model.name} {dep.version} ({dep.stage})"
    selector = _labels(model, dep)
    labels = {**selector, "aiplane.dev/version": _label_value(dep.version)}

    def meta(extra: dict[str, str] | None = None) -> Obj:
        return ctx.meta(name, path, subject, labels=labels, annotations=extra)

    planned = model_placement(ctx, model, dep)
    if planned is not None:
        check_placed(ctx, m_index, planned)
    annotations = _deployment_annotations(ctx, model, version)
    if planned is not None:
        annotations["aiplane.dev/placement"] = f"{planned.slice} (planner)"
    out = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta(annotations),
            "spec": _deployment_spec(ctx, m_index, model, dep, version, selector, labels, planned),
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(),
            "spec": {
                "type": "ClusterIP",
                "selector": selector,
                "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta(),
            # maxUnavailable rather than minAvailable: with one replica minAvailable would block
            # node drains forever, and a GPU pool has to be drainable for driver upgrades.
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
        },
    ]
    hpa = _hpa(ctx, m_index, model, name)
    if hpa is not None:
        hpa["metadata"] = meta()
        out.append(hpa)
    return out


def _label_value(text: str) -> str:
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:63]
    return value.strip("-_.") or "unknown"


def _deployment_annotations(ctx: Context, model: Model, version: ModelVersion) -> dict[str, str]:
    out = {"aiplane.dev/model-source": version.source}
    resolved = ctx.resolution(version)
    if resolved is not None:
        # The version the reference named at resolution: a moved alias is a plain diff here.
        out["aiplane.dev/model-version"] = resolved.version
        out["aiplane.dev/model-artifact"] = resolved.value
    if version.revision:
        out["aiplane.dev/model-revision"] = version.revision
    if version.digest:
        out["aiplane.dev/model-digest"] = version.digest
    out["aiplane.dev/startup-budget-seconds"] = str(startup_budget_seconds(model, ctx.loaded))
    if model.autoscaling is not None and _hpa_targets(model.autoscaling):
        # The plan shows a replica count the HPA changed as expected drift, not as a change.
        out[DRIFT_ANN] = "spec.replicas=HorizontalPodAutoscaler"
    return out


def _template_meta(model: Model, labels: dict[str, str]) -> Obj:
    meta: Obj = {"labels": labels}
    scrape = scrape_annotations(model)
    if scrape:
        meta["annotations"] = scrape
    return meta


def _deployment_spec(
    ctx: Context,
    m_index: int,
    model: Model,
    dep: Deployment,
    version: ModelVersion,
    selector: dict[str, str],
    labels: dict[str, str],
    planned: ModelPlacement | None,
) -> Obj:
    spec: Obj = {
        "selector": {"matchLabels": selector},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": rollout(ctx, model)},
        "template": {
            "metadata": _template_meta(model, labels),
            "spec": pod_spec(ctx, m_index, model, dep, version, planned),
        },
    }
    if model.autoscaling is None:
        # With an HPA the replica count is the HPA's; setting it here would fight it on every apply.
        spec["replicas"] = dep.replicas or model.replicas
    return spec


def _hpa(ctx: Context, m_index: int, model: Model, name: str) -> Obj | None:
    auto = model.autoscaling
    if auto is None:
        return None
    metrics = _hpa_targets(auto)
    if not metrics:
        ctx.warn(
            ("spec", "models", m_index, "autoscaling"),
            "autoscaling has no target; no HorizontalPodAutoscaler rendered",
            "set targetRequestsPerReplica or targetCpuPercent",
        )
        return None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": auto.min_replicas,
            "maxReplicas": auto.max_replicas,
            "metrics": metrics,
        },
    }


def _hpa_targets(auto: Autoscaling) -> list[Obj]:
    metrics: list[Obj] = []
    if auto.target_requests_per_replica:
        # Needs a custom-metrics adapter (e.g. prometheus-adapter) exposing vLLM's gauge.
        metrics.append(
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "vllm:num_requests_running"},
                    "target": {
                        "type": "AverageValue",
                        "averageValue": str(auto.target_requests_per_replica),
                    },
                },
            }
        )
    if auto.target_cpu_percent:
        metrics.append(
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {
                        "type": "Utilization",
                        "averageUtilization": auto.target_cpu_percent,
                    },
                },
            }
        )
    return metrics


def model_gateway(spec: StackSpec, model: str) -> tuple[str, str | None]:
    """The gateway of the first route that serves ``model`` locally, else the default one."""
    for route in spec.routes:
        if any(b.local and b.local.model == model for b in route.backends):
            return route.gateway.name, route.gateway.namespace
    return "ai-gateway", None


def stage_weights(model: Model) -> list[tuple[Deployment, int]]:
    """(deployment, weight) of the stages that take live traffic; shadow stages are mirrored."""
    live = [d for d in model.deployments if d.stage != "shadow"]
    if len(live) == 1 and live[0].weight is None:
        return [(live[0], 100)]
    return [(d, d.weight or 0) for d in live]


def _model_route(ctx: Context, m_index: int, model: Model) -> Obj:
    gw_name, gw_ns = model_gateway(ctx.loaded.stack.spec, model.name)
    parent: Obj = {"name": gw_name}
    if gw_ns:
        parent["namespace"] = gw_ns
    prefix = f"/models/{model.name}"
    filters: list[Obj] = [
        {
            "type": "URLRewrite",
            "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}},
        },
    ]
    for dep in model.deployments:
        if dep.stage == "shadow":
            filters.append(
                {
                    "type": "RequestMirror",
                    "requestMirror": {
                        "backendRef": {"name": service_name(model.name, dep.stage), "port": PORT},
                        "percent": dep.mirror_percent or 100,
                    },
                }
            )
    backends = [
        {"name": service_name(model.name, d.stage), "port": PORT, "weight": w}
        for d, w in stage_weights(model)
    ]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": ctx.meta(
            k8s_name(model.name),
            ("spec", "models", m_index, "deployments"),
            f"model {model.name}",
            labels={"aiplane.dev/model": model.name},
            annotations=weights_annotation(backends, version_terms(ctx.loaded.stack.spec)),
        ),
        "spec": {
            "parentRefs": [parent],
            "rules": [
                {
                    "name": "stages",
                    "matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
                    "filters": filters,
                    "backendRefs": backends,
                }
            ],
        },
    }
