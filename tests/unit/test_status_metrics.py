"""Metrics parsing for ``aiplane status``, against the metric families vLLM documents
(docs.vllm.ai "Production Metrics": ``vllm:num_requests_running``/``waiting``,
``vllm:kv_cache_usage_perc`` (``vllm:gpu_cache_usage_perc`` before the V1 engine),
``vllm:e2e_request_latency_seconds`` and ``vllm:time_to_first_token_seconds`` histograms,
``vllm:generation_tokens_total``; labels ``model_name`` and ``engine``) and the DCGM exporter's
``DCGM_FI_DEV_*`` gauges."""

from __future__ import annotations

import math

import pytest

from aiplane.status.metrics import (
    MetricsError,
    gpu_figures,
    histogram_quantile,
    is_vllm,
    parse,
    serving_figures,
)

# Hand-written in vLLM's exposition shape: two engines of one model (their series add up).
VLLM_TEXT = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B"} 3.0
vllm:num_requests_running{engine="1",model_name="meta-llama/Llama-3.1-8B"} 2.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="meta-llama/Llama-3.1-8B"} 7.0
vllm:num_requests_waiting{engine="1",model_name="meta-llama/Llama-3.1-8B"} 0.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3.1-8B"} 0.625
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="meta-llama/Llama-3.1-8B"} 120000.0
vllm:generation_tokens_total{engine="1",model_name="meta-llama/Llama-3.1-8B"} 30000.0
# HELP vllm:e2e_request_latency_seconds Histogram of e2e request latency in seconds.
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{engine="0",le="0.1",model_name="meta-llama/Llama-3.1-8B"} 6.0
vllm:e2e_request_latency_seconds_bucket{engine="0",le="0.5",model_name="meta-llama/Llama-3.1-8B"} 40.0
vllm:e2e_request_latency_seconds_bucket{engine="0",le="1.0",model_name="meta-llama/Llama-3.1-8B"} 60.0
vllm:e2e_request_latency_seconds_bucket{engine="0",le="2.5",model_name="meta-llama/Llama-3.1-8B"} 64.0
vllm:e2e_request_latency_seconds_bucket{engine="0",le="+Inf",model_name="meta-llama/Llama-3.1-8B"} 64.0
vllm:e2e_request_latency_seconds_sum{engine="0",model_name="meta-llama/Llama-3.1-8B"} 40.1
vllm:e2e_request_latency_seconds_count{engine="0",model_name="meta-llama/Llama-3.1-8B"} 64.0
vllm:e2e_request_latency_seconds_bucket{engine="1",le="0.1",model_name="meta-llama/Llama-3.1-8B"} 4.0
vllm:e2e_request_latency_seconds_bucket{engine="1",le="0.5",model_name="meta-llama/Llama-3.1-8B"} 20.0
vllm:e2e_request_latency_seconds_bucket{engine="1",le="1.0",model_name="meta-llama/Llama-3.1-8B"} 30.0
vllm:e2e_request_latency_seconds_bucket{engine="1",le="2.5",model_name="meta-llama/Llama-3.1-8B"} 36.0
vllm:e2e_request_latency_seconds_bucket{engine="1",le="+Inf",model_name="meta-llama/Llama-3.1-8B"} 36.0
vllm:e2e_request_latency_seconds_sum{engine="1",model_name="meta-llama/Llama-3.1-8B"} 25.3
vllm:e2e_request_latency_seconds_count{engine="1",model_name="meta-llama/Llama-3.1-8B"} 36.0
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.02",model_name="meta-llama/Llama-3.1-8B"} 10.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.04",model_name="meta-llama/Llama-3.1-8B"} 30.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="meta-llama/Llama-3.1-8B"} 40.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="meta-llama/Llama-3.1-8B"} 1.2
vllm:time_to_first_token_seconds_count{engine="0",model_name="meta-llama/Llama-3.1-8B"} 40.0
"""

# The V0 engine's name for the KV-cache gauge.
VLLM_V0_TEXT = """\
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="m"} 0.25
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 1.0
"""

DCGM_TEXT = """\
# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-a",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node-1"} 87
DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-b",device="nvidia1",modelName="NVIDIA H100 80GB HBM3",Hostname="node-1"} 12
# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-a",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node-1"} 70000
DCGM_FI_DEV_FB_USED{gpu="1",UUID="GPU-b",device="nvidia1",modelName="NVIDIA H100 80GB HBM3",Hostname="node-1"} 1000
# HELP DCGM_FI_DEV_FB_FREE Framebuffer memory free (in MiB).
# TYPE DCGM_FI_DEV_FB_FREE gauge
DCGM_FI_DEV_FB_FREE{gpu="0",UUID="GPU-a",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node-1"} 11559
DCGM_FI_DEV_FB_FREE{gpu="1",UUID="GPU-b",device="nvidia1",modelName="NVIDIA H100 80GB HBM3",Hostname="node-1"} 80559
# HELP DCGM_FI_DEV_GPU_TEMP GPU temperature (in C).
# TYPE DCGM_FI_DEV_GPU_TEMP gauge
DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-a",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node-1"} 71
DCGM_FI_DEV_GPU_TEMP{gpu="1",UUID="GPU-b",device="nvidia1",modelName="NVIDIA H100 80GB HBM3",Hostname="node-1"} 40
"""


def test_quantiles_interpolate_inside_the_bucket_like_promql() -> None:
    buckets = {0.1: 10.0, 0.5: 60.0, 1.0: 90.0, 2.5: 100.0, math.inf: 100.0}
    assert histogram_quantile(0.50, buckets) == pytest.approx(0.1 + 0.4 * 40 / 50)
    assert histogram_quantile(0.95, buckets) == pytest.approx(1.0 + 1.5 * 5 / 10)
    assert histogram_quantile(0.99, buckets) == pytest.approx(1.0 + 1.5 * 9 / 10)


def test_quantile_edge_cases() -> None:
    assert histogram_quantile(0.5, {}) is None
    assert histogram_quantile(0.5, {1.0: 0.0, math.inf: 0.0}) is None
    # Everything above the last finite bound: Prometheus answers that bound.
    assert histogram_quantile(0.99, {1.0: 1.0, math.inf: 10.0}) == 1.0
    # No +Inf bucket is not a valid histogram.
    assert histogram_quantile(0.5, {1.0: 5.0}) is None


def test_vllm_families_summed_over_engines() -> None:
    samples = parse(VLLM_TEXT)
    assert is_vllm(samples)
    figures = serving_figures(samples)
    assert figures.running == 5
    assert figures.waiting == 7
    assert figures.kv_cache_usage == 0.625
    assert figures.generated_tokens == 150000
    # Summed buckets: 10, 60, 90, 100, 100 (the table of the test above).
    assert figures.latency_p50_s == pytest.approx(0.42)
    assert figures.latency_p95_s == pytest.approx(1.75)
    assert figures.latency_p99_s == pytest.approx(2.35)
    assert figures.ttft_p50_s == pytest.approx(0.02 + 0.02 * 10 / 20)
    assert figures.tokens_per_second is None  # one sample has no rate


def test_tokens_per_second_is_the_counter_rate_between_two_samples() -> None:
    before = parse(VLLM_TEXT)
    after = parse(VLLM_TEXT.replace("} 30000.0", "} 34000.0"))
    figures = serving_figures(after, before, 2.0)
    assert figures.tokens_per_second == pytest.approx(2000.0)
    # A counter that went down (the pod restarted) gives no rate rather than a negative one.
    assert serving_figures(before, after, 2.0).tokens_per_second is None


def test_v0_kv_cache_gauge_name() -> None:
    figures = serving_figures(parse(VLLM_V0_TEXT))
    assert figures.kv_cache_usage == 0.25
    assert figures.latency_p99_s is None and figures.waiting is None


def test_dcgm_gpu_figures() -> None:
    samples = parse(DCGM_TEXT)
    assert not is_vllm(samples)
    gpus = gpu_figures(samples)
    assert [g.gpu for g in gpus] == ["node-1/0", "node-1/1"]
    assert gpus[0].utilisation_percent == 87
    assert gpus[0].memory_used_mib == 70000 and gpus[0].memory_total_mib == 81559
    assert gpus[0].temperature_c == 71 and gpus[1].temperature_c == 40


def test_text_that_is_not_prometheus_is_an_error() -> None:
    with pytest.raises(MetricsError):
        parse("<html><body>502 Bad Gateway</body></html>\n")
