"""Figures from Prometheus text exposition: vLLM serving metrics and DCGM exporter GPU metrics.

The text format is parsed by ``prometheus_client.parser`` (the Prometheus project's own Python
client); this module only picks the families and turns them into numbers:

* latency p50/p95/p99 from the ``vllm:e2e_request_latency_seconds`` histogram (and time to first
  token from ``vllm:time_to_first_token_seconds``), by linear interpolation inside the bucket
  that holds the quantile, as PromQL's ``histogram_quantile`` does;
* running and waiting requests (``vllm:num_requests_running`` / ``vllm:num_requests_waiting``);
* KV-cache use (``vllm:kv_cache_usage_perc``; older releases call it
  ``vllm:gpu_cache_usage_perc``), a fraction 0..1;
* generated tokens per second: the rate of ``vllm:generation_tokens_total`` between two samples
  (one sample has no rate);
* DCGM: ``DCGM_FI_DEV_GPU_UTIL`` (%), ``DCGM_FI_DEV_FB_USED``/``DCGM_FI_DEV_FB_FREE`` (MiB) and
  ``DCGM_FI_DEV_GPU_TEMP`` (°C) per GPU.

Series of several models or engines in one endpoint are summed (gauges, counters, buckets).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

LATENCY = "vllm:e2e_request_latency_seconds"
TTFT = "vllm:time_to_first_token_seconds"
RUNNING = "vllm:num_requests_running"
WAITING = "vllm:num_requests_waiting"
KV_CACHE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
GENERATED = "vllm:generation_tokens_total"


class MetricsError(ValueError):
    """The endpoint's answer is not Prometheus text."""


@dataclass(frozen=True)
class Samples:
    """One scrape: sample name → summed value, plus histogram buckets (name → le → count)."""

    values: Mapping[str, float]
    buckets: Mapping[str, Mapping[float, float]]
    per_gpu: Mapping[str, Mapping[str, float]]  # DCGM: "<host>/<gpu>" -> metric -> value


def parse(text: str) -> Samples:
    """Parse Prometheus text; raise ``MetricsError`` when it is not valid exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, float] = defaultdict(float)
    buckets: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    per_gpu: dict[str, dict[str, float]] = defaultdict(dict)
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.endswith("_bucket") and "le" in sample.labels:
                    le = float(sample.labels["le"])
                    buckets[sample.name.removesuffix("_bucket")][le] += sample.value
                    continue
                values[sample.name] += sample.value
                if sample.name.startswith("DCGM_") and "gpu" in sample.labels:
                    host = sample.labels.get("Hostname", "")
                    per_gpu[f"{host}/{sample.labels['gpu']}"][sample.name] = sample.value
    except ValueError as exc:
        raise MetricsError(f"not Prometheus text: {exc}") from exc
    return Samples(dict(values), {k: dict(v) for k, v in buckets.items()}, dict(per_gpu))


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """The q-quantile of a cumulative histogram (upper bound → count), PromQL style.

    None when the histogram is empty. A quantile in the ``+Inf`` bucket returns the largest
    finite bound, as Prometheus does.
    """
    bounds = sorted(buckets)
    if not bounds or not math.isinf(bounds[-1]):
        return None
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return None


@dataclass(frozen=True)
class ServingFigures:
    """What one serving pod reports, in the units status prints."""

    latency_p50_s: float | None
    latency_p95_s: float | None
    latency_p99_s: float | None
    ttft_p50_s: float | None
    running: float | None
    waiting: float | None
    kv_cache_usage: float | None
    generated_tokens: float | None
    tokens_per_second: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def serving_figures(
    now: Samples, before: Samples | None = None, seconds: float = 0.0
) -> ServingFigures:
    """vLLM figures from one scrape (and the token rate from an earlier one)."""
    latency = now.buckets.get(LATENCY, {})
    kv = next((now.values[k] for k in KV_CACHE if k in now.values), None)
    generated = now.values.get(GENERATED)
    rate = None
    if before is not None and seconds > 0 and generated is not None:
        earlier = before.values.get(GENERATED)
        if earlier is not None and generated >= earlier:
            rate = (generated - earlier) / seconds
    return ServingFigures(
        latency_p50_s=histogram_quantile(0.50, latency),
        latency_p95_s=histogram_quantile(0.95, latency),
        latency_p99_s=histogram_quantile(0.99, latency),
        ttft_p50_s=histogram_quantile(0.50, now.buckets.get(TTFT, {})),
        running=now.values.get(RUNNING),
        waiting=now.values.get(WAITING),
        kv_cache_usage=kv,
        generated_tokens=generated,
        tokens_per_second=rate,
    )


def is_vllm(samples: Samples) -> bool:
    return any(k.startswith("vllm:") for k in (*samples.values, *samples.buckets))


@dataclass(frozen=True)
class GpuFigures:
    """One GPU as the DCGM exporter reports it."""

    gpu: str
    utilisation_percent: float | None
    memory_used_mib: float | None
    memory_total_mib: float | None
    temperature_c: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def gpu_figures(samples: Samples) -> list[GpuFigures]:
    out = []
    for gpu, metrics in sorted(samples.per_gpu.items()):
        used = metrics.get("DCGM_FI_DEV_FB_USED")
        free = metrics.get("DCGM_FI_DEV_FB_FREE")
        out.append(
            GpuFigures(
                gpu=gpu,
                utilisation_percent=metrics.get("DCGM_FI_DEV_GPU_UTIL"),
                memory_used_mib=used,
                memory_total_mib=used + free if used is not None and free is not None else None,
                temperature_c=metrics.get("DCGM_FI_DEV_GPU_TEMP"),
            )
        )
    return out
