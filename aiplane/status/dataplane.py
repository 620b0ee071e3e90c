"""Data-plane section of ``aiplane status``: each serving pod's vLLM ``/metrics`` and the DCGM
exporter's GPU metrics, read through the API server's pod proxy.

``MetricsSource`` is the one step that turns a pod into metrics text. The default goes through
``/api/v1/namespaces/<ns>/pods/<pod>:<port>/proxy/metrics``; tests swap it (kwok pods have no
reachable address) for one that reads a vLLM-format endpoint on 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiplane.providers.kubernetes.client import KubeClient
from aiplane.stack.loader import LoadedStack
from aiplane.status.metrics import MetricsError, Samples, gpu_figures, parse, serving_figures
from aiplane.status.reads import NOT_INSTALLED, list_all
from aiplane.status.work import model_pods

VLLM_PORT = 8000
DCGM_PORT = 9400
DCGM_SELECTOR = "app=nvidia-dcgm-exporter"
MetricsSource = Callable[[dict[str, Any], int], str | None]


def proxy_source(client: KubeClient) -> MetricsSource:
    """Pod → its /metrics text through the API server's pod proxy (None when it fails)."""

    def fetch(pod: dict[str, Any], port: int) -> str | None:
        meta = pod["metadata"]
        return client.get_text(
            f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}:{port}/proxy/metrics"
        )

    return fetch


def _sample(source: MetricsSource, pod: dict[str, Any], port: int) -> Samples | str:
    text = source(pod, port)
    if text is None:
        return "metrics endpoint did not answer"
    try:
        return parse(text)
    except MetricsError as exc:
        return str(exc)


def serving(
    client: KubeClient, loaded: LoadedStack, source: MetricsSource, sample_seconds: float
) -> list[dict[str, Any]]:
    """Per serving pod: the vLLM figures (tokens/s from two samples ``sample_seconds`` apart)."""
    namespace = loaded.stack.metadata.namespace
    targets = []
    for model in loaded.stack.spec.models:
        for dep in model.deployments:
            for pod in model_pods(client, namespace, model.name, dep.stage):
                if (pod.get("status") or {}).get("phase") == "Running":
                    targets.append((model.name, dep.version, dep.stage, pod))
    first = [_sample(source, pod, VLLM_PORT) for *_rest, pod in targets]
    started = time.monotonic()
    if sample_seconds > 0 and any(isinstance(s, Samples) for s in first):
        time.sleep(sample_seconds)
    rows = []
    for (name, version, stage, pod), before in zip(targets, first, strict=True):
        row: dict[str, Any] = {
            "model": name,
            "version": version,
            "stage": stage,
            "pod": pod["metadata"]["name"],
        }
        if isinstance(before, str):
            row["error"] = before
        else:
            after = _sample(source, pod, VLLM_PORT) if sample_seconds > 0 else before
            now = after if isinstance(after, Samples) else before
            elapsed = time.monotonic() - started
            figures = serving_figures(now, before if now is not before else None, elapsed)
            row["metrics"] = figures.to_json()
        rows.append(row)
    return rows


def dcgm(client: KubeClient, source: MetricsSource) -> list[dict[str, Any]] | str:
    exporters = list_all(client, "v1", "Pod", labels=DCGM_SELECTOR)
    running = [p for p in exporters if (p.get("status") or {}).get("phase") == "Running"]
    if not running:
        return NOT_INSTALLED
    rows = []
    for pod in running:
        sample = _sample(source, pod, DCGM_PORT)
        node = (pod.get("spec") or {}).get("nodeName", "")
        if isinstance(sample, str):
            rows.append({"node": node, "error": sample})
        else:
            rows.append({"node": node, "gpus": [g.to_json() for g in gpu_figures(sample)]})
    return rows
