"""``aiplane status``: collect every section into one report; print it as text or JSON.

The JSON document (``--json``) is versioned: ``format_version: 1``. Keys are snake_case; a
section whose source the cluster does not have is the string ``"not installed"`` (or ``"not
configured"`` when the stack does not use it). See README "aiplane status" for the shape.
"""

from __future__ import annotations

import re
from typing import Any

from aiplane.providers.kubernetes.client import KubeClient
from aiplane.stack.loader import LoadedStack
from aiplane.status.dataplane import MetricsSource, dcgm, serving
from aiplane.status.reads import NOT_INSTALLED

FORMAT_VERSION = 1


def collect(
    client: KubeClient, loaded: LoadedStack, source: MetricsSource, sample_seconds: float = 1.0
) -> dict[str, Any]:
    """Read every section from the cluster; ``problems`` lists what makes the stack unhealthy."""
    from aiplane.status.control import control_plane
    from aiplane.status.work import models, pending_gpu_pods, pending_workloads, pools, queues

    problems: list[str] = []
    report: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "stack": loaded.stack.metadata.name,
        "namespace": loaded.stack.metadata.namespace,
        "cluster": client.config.server,
        "controlPlane": control_plane(client, loaded, problems),
        "models": models(client, loaded, problems),
        "backlog": {
            "pendingPods": pending_gpu_pods(client),
            "pendingWorkloads": pending_workloads(client),
        },
        "queues": queues(client, loaded, problems),
        "pools": pools(client, loaded, problems),
        "dataPlane": {
            "serving": serving(client, loaded, source, sample_seconds),
            "gpus": dcgm(client, source),
        },
    }
    for row in report["dataPlane"]["serving"]:
        if "error" in row:
            problems.append(f"model {row['model']} pod {row['pod']}: {row['error']}")
    report["problems"] = problems
    report["healthy"] = not problems
    converted: dict[str, Any] = snake(report)
    return converted


_CAMEL = re.compile(r"^[a-z]+(?:[A-Z][a-z0-9]*)+$")


def snake(value: Any) -> Any:
    """camelCase keys (the sections' own) to snake_case; data keys (resource and node names)
    never match the pattern and stay as they are."""
    if isinstance(value, dict):
        return {
            (re.sub(r"([A-Z])", lambda m: "_" + m[1].lower(), k) if _CAMEL.match(k) else k): snake(
                v
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [snake(v) for v in value]
    return value


def _fmt(value: float | None, scale: float = 1.0, unit: str = "", digits: int = 2) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}{unit}"


def lines(report: dict[str, Any]) -> list[str]:
    """The report as text, section by section."""
    out = [
        f"aiplane status: stack {report['stack']} (namespace {report['namespace']}) on {report['cluster']}",
        "",
        "Control plane",
    ]
    control = report["control_plane"]
    for key, title in (
        ("gpu_operator", "GPU Operator"),
        ("mig_manager", "MIG manager"),
        ("argo", "Argo Workflows"),
        ("kueue", "Kueue"),
        ("registry", "model registry"),
        ("gateway", "gateway"),
    ):
        out.append(f"  {title}: {_control_text(control[key])}")
    out += ["", "Models"]
    for m in report["models"]:
        weight = f", weight {m['weight']}%" if m["weight"] is not None else ""
        out.append(
            f"  {m['model']} {m['version']} ({m['stage']}{weight}): {m['state']}, "
            f"{m['ready']}/{m['desired']} ready"
        )
        for p in m["pods"]:
            out.append(
                f"    {p['pod']} on {p['node'] or '(unscheduled)'}: {p['gpu']}, {p['phase']}, "
                f"restarts {p['restarts']}"
            )
        if m["last_event"]:
            out.append(f"    last event: {m['last_event']}")
    if not report["models"]:
        out.append("  (the stack serves no models)")
    out += _backlog(report["backlog"]) + _queues(report["queues"]) + _pools(report["pools"])
    out += _data_plane(report["data_plane"])
    out.append("")
    if report["healthy"]:
        out.append("healthy")
    else:
        out.append(f"unhealthy ({len(report['problems'])} problem(s)):")
        out += [f"  - {p}" for p in report["problems"]]
    return out


def _control_text(section: dict[str, Any]) -> str:
    text = str(section["state"])
    details = []
    for p in section.get("policies", []):
        details.append(f"ClusterPolicy/{p['name']} {p['state']}")
    for n in section.get("nodes", []):
        details.append(f"{n['node']} {n['config']} {n['state']}")
    for c in section.get("controllers", []):
        details.append(f"{c['deployment']} {c['ready']}/{c['desired']}")
    for e in section.get("endpoints", []):
        details.append(f"{e['uri']} {'healthy' if e['healthy'] else 'unhealthy'} ({e['detail']})")
    for g in section.get("gateways", []):
        details.append(f"{g['gateway']} {g['state']}")
    return text + (f" ({'; '.join(details)})" if details else "")


def _backlog(backlog: dict[str, Any]) -> list[str]:
    out = ["", "GPU backlog"]
    for p in backlog["pending_pods"]:
        queue = f", queue {p['queue']}" if p["queue"] else ""
        out.append(f"  pod {p['pod']}: {p['gpu']}{queue}: {p['reason']}")
    for w in backlog["pending_workloads"]:
        out.append(
            f"  {w['owner']} ({w['workload']}): position {w['position']} of {w['of']} in "
            f"{w['cluster_queue'] or '(no queue)'}, priority {w['priority']}: {w['reason']}"
        )
    if len(out) == 2:
        out.append("  (nothing waiting)")
    return out


def _queues(queues: Any) -> list[str]:
    out = ["", "Queues"]
    if isinstance(queues, str):
        return [*out, f"  {queues}"]
    for q in queues:
        borrowed = ", ".join(f"{k} {v}" for k, v in q["borrowed"].items() if v) or "nothing"
        used = ", ".join(f"{k} {v}" for k, v in q["used"].items()) or "nothing"
        out.append(
            f"  {q['cluster_queue']}: {'active' if q['active'] else 'NOT active'}, admitted "
            f"{q['admitted']}, pending {q['pending']}, using {used}, borrowed {borrowed}"
        )
    return out


def _pools(pools: list[dict[str, Any]]) -> list[str]:
    out = ["", "Pools"]
    for p in pools:
        alloc = ", ".join(f"{k} {v}" for k, v in p["allocatable"].items()) or "no GPUs"
        req = ", ".join(f"{k} {v}" for k, v in p["requested"].items()) or "nothing"
        declared = "" if p["declared_nodes"] is None else f" of {p['declared_nodes']} declared"
        out.append(
            f"  {p['pool']}: {p['nodes']} node(s){declared}; allocatable {alloc}; requested {req}"
        )
        mig = p["mig"]
        if mig["declared"] != "disabled" or any(n["config"] for n in mig["nodes"]):
            applied = "; ".join(f"{n['node']} {n['config']} ({n['state']})" for n in mig["nodes"])
            out.append(f"    MIG declared {mig['declared']}, applied: {applied or 'no nodes'}")
    return out


def _data_plane(data: dict[str, Any]) -> list[str]:
    out = ["", "Data plane"]
    for row in data["serving"]:
        name = f"  {row['model']} {row['version']} ({row['stage']}) {row['pod']}"
        if "error" in row:
            out.append(f"{name}: {row['error']}")
            continue
        m = row["metrics"]
        out.append(
            f"{name}: latency p50 {_fmt(m['latency_p50_s'], 1000, ' ms', 0)}, "
            f"p95 {_fmt(m['latency_p95_s'], 1000, ' ms', 0)}, p99 {_fmt(m['latency_p99_s'], 1000, ' ms', 0)}; "
            f"{_fmt(m['tokens_per_second'], 1, ' tokens/s', 1)}; running {_fmt(m['running'], 1, '', 0)}, "
            f"waiting {_fmt(m['waiting'], 1, '', 0)}; KV cache {_fmt(m['kv_cache_usage'], 100, '%', 1)}"
        )
    if not data["serving"]:
        out.append("  serving: no running serving pods")
    gpus = data["gpus"]
    if gpus == NOT_INSTALLED:
        out.append("  GPU metrics (DCGM exporter): not installed")
        return out
    for node in gpus:
        if "error" in node:
            out.append(f"  DCGM on {node['node']}: {node['error']}")
        for g in node.get("gpus", []):
            out.append(
                f"  GPU {g['gpu']}: util {_fmt(g['utilisation_percent'], 1, '%', 0)}, memory "
                f"{_fmt(g['memory_used_mib'], 1, '', 0)}/{_fmt(g['memory_total_mib'], 1, ' MiB', 0)}, "
                f"{_fmt(g['temperature_c'], 1, ' °C', 0)}"
            )
    return out
