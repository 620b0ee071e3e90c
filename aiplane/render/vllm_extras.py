"""Objects a served model needs besides its Deployments: the model-cache claim and the
PodMonitor that lets a Prometheus Operator scrape vLLM's /metrics."""

from __future__ import annotations

from aiplane.render.common import Context, Obj
from aiplane.stack.models import Model

# Objects of a kind the cluster may not serve (an optional operator's CRD): plan and apply leave
# them out, with a note, where the kind is not served.
ONLY_IF_SERVED = "aiplane.dev/only-if-served"
METRICS_PATH = "/metrics"


def scrape_annotations(model: Model) -> dict[str, str]:
    """The prometheus.io annotations most scrape configs honour (none with metrics: none)."""
    if model.serving.metrics == "none":
        return {}
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8000",
        "prometheus.io/path": METRICS_PATH,
    }


def model_extras(ctx: Context, m_index: int, model: Model) -> list[Obj]:
    """The created cache claim (when ``serving.cache.size``) and the PodMonitor (metrics:
    podMonitor)."""
    out: list[Obj] = []
    path = ("spec", "models", m_index, "serving")
    subject = f"model {model.name}"
    cache = model.serving.cache
    if cache is not None and cache.size:
        spec: Obj = {
            "accessModes": [cache.access_mode],
            "resources": {"requests": {"storage": cache.size}},
        }
        if cache.storage_class:
            spec["storageClassName"] = cache.storage_class
        out.append({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": ctx.meta(f"{model.name}-cache", path, subject),
            "spec": spec,
        })  # fmt: skip
    if model.serving.metrics == "podMonitor" and model.deployments:
        selector = {"app.kubernetes.io/name": "vllm", "aiplane.dev/model": model.name}
        out.append({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PodMonitor",
            "metadata": ctx.meta(f"{model.name}-vllm", path, subject,
                                 annotations={ONLY_IF_SERVED: "true"}),
            "spec": {
                "selector": {"matchLabels": selector},
                "podMetricsEndpoints": [{"port": "http", "path": METRICS_PATH}],
            },
        })  # fmt: skip
    return out
