"""LiteLLM proxy overhead: the rendered proxy vs a direct call to the same upstream, one run.

Run: ``.venv/bin/python bench/gateway_proxy.py [--requests 600] [--concurrency 8]``.
Starts one OpenAI-compatible loopback stand-in (``tests/servers/upstreams.py``) and the real
LiteLLM proxy (pinned, ``tests/servers/litellm.py``) with the config aiplane renders for a
one-backend ``litellm`` route, then sends the same requests to both, alternating phases, and
prints a Markdown table (requests/s, p50/p99 latency, added latency) for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.gateway.client import chat
from tests.gateway.stack import MASTER_KEY_VAR, render_doc
from tests.servers.litellm import Proxy, deployment_env, proxy_config_text, start_proxy
from tests.servers.upstreams import Upstream


def stack(up: Upstream) -> dict[str, object]:
    backend = {"name": "vllm", "external": {"provider": "openai-compatible", "model": "m",
                                            "endpoint": f"{up.base_url}/v1"}}  # fmt: skip
    return {
        "apiVersion": "aiplane.dev/v1alpha1",
        "kind": "Stack",
        "metadata": {"name": "bench", "namespace": "bench"},
        "spec": {
            "gateway": {"target": "litellm", "litellm": {"masterKeySecret": {"name": "litellm",
                                                                           "key": "masterKey"}}},
            "routes": [{"name": "chat", "path": "/v1/chat/completions", "backends": [backend]}],
        },
    }  # fmt: skip


def run(call: Callable[[], float], requests: int, concurrency: int) -> tuple[float, list[float]]:
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(lambda _: call(), range(requests)))
    return requests / (time.perf_counter() - started), latencies


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    up = Upstream("bench").start()
    work = Path(tempfile.mkdtemp(prefix="aiplane-bench-gw-"))
    manifests = render_doc(stack(up), work)
    proxy = start_proxy(proxy_config_text(manifests), deployment_env(manifests), work / "proxy",
                        MASTER_KEY_VAR)  # fmt: skip
    direct = Proxy(proxy.process, up.port, proxy.master_key)  # same client code, upstream port

    def via(target: Proxy, model: str) -> Callable[[], float]:
        def call() -> float:
            answer = chat(target, model)
            assert answer.status == 200, answer.body
            return answer.seconds

        return call

    try:
        for target, model in ((proxy, "chat"), (direct, "m")):
            run(via(target, model), 50, args.concurrency)  # warm-up
        results: dict[str, tuple[list[float], list[float]]] = {
            "direct": ([], []),
            "proxy": ([], []),
        }
        for _ in range(2):  # alternate, so drift in machine load hits both
            for name, target, model in (("direct", direct, "m"), ("proxy", proxy, "chat")):
                rps, lat = run(via(target, model), args.requests // 2, args.concurrency)
                results[name][0].append(rps)
                results[name][1].extend(lat)
    finally:
        proxy.stop()
        up.stop()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs "
          f"(load {os.getloadavg()[0]:.1f}); {args.requests} requests each, "
          f"concurrency {args.concurrency}\n")  # fmt: skip
    print("| path | requests/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    for name, (rps, lat) in results.items():
        print(f"| {name} | {statistics.mean(rps):.0f} | {pct(lat, 50):.1f} | {pct(lat, 99):.1f} |")
    d, p = results["direct"][1], results["proxy"][1]
    print(f"\nadded by the proxy: p50 +{pct(p, 50) - pct(d, 50):.1f} ms, "
          f"p99 +{pct(p, 99) - pct(d, 99):.1f} ms; throughput ratio proxy/direct "
          f"{statistics.mean(results['proxy'][0]) / statistics.mean(results['direct'][0]):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
