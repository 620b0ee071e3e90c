"""The vLLM pod: container command line, probes sized to weight loading, /dev/shm, the model
cache, GPU resources and pool placement."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from aiplane.gpu.problem import WHOLE_GPU
from aiplane.render.common import Context, Obj, accelerator, quantity, tolerations
from aiplane.render.placement import (
    NODE_GROUP_LABEL,
    model_node_group,
)
from aiplane.render.vllm_args import PVC_ROOT, vllm_args
from aiplane.render.vllm_fetch import fetch_init
from aiplane.render.vllm_sizing import startup_budget_seconds, weights_gib
from aiplane.stack.loader import LoadedStack
from aiplane.stack.model_refs import is_registry_source
from aiplane.stack.models import (
    Deployment,
    GpuPool,
    Model,
    ModelVersion,
)
from aiplane.stack.sections.base import EnvSource, EnvValue

if TYPE_CHECKING:
    from aiplane.gpu.stack_placement import ModelPlacement

PORT = 8000
CACHE_DIR = "/model-cache"


def pod_spec(
    ctx: Context,
    m_index: int,
    model: Model,
    dep: Deployment,
    version: ModelVersion,
    planned: ModelPlacement | None,
) -> Obj:
    spec = ctx.loaded.stack.spec
    pool = spec.pool(model.pool) if model.pool else None
    serving = model.serving
    image = serving.image or f"vllm/vllm-openai:v{serving.engine_version}"
    parallel = serving.tensor_parallel_size * serving.pipeline_parallel_size
    volumes: list[Obj] = [
        # NCCL and PyTorch workers exchange tensors through /dev/shm; the default 64Mi is too small.
        {
            "name": "shm",
            "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi" if parallel > 1 else "2Gi"},
        },
        _cache_volume(model, ctx.loaded),
    ]
    mounts: list[Obj] = [
        {"name": "shm", "mountPath": "/dev/shm"},
        {"name": "model-cache", "mountPath": CACHE_DIR},
    ]
    claim = _pvc_claim(version.source)
    if claim:
        volumes.append(
            {
                "name": "model-weights",
                "persistentVolumeClaim": {"claimName": claim, "readOnly": True},
            }
        )
        mounts.append(
            {"name": "model-weights", "mountPath": f"{PVC_ROOT}/{claim}", "readOnly": True}
        )
    resolved = ctx.resolution(version)
    if resolved is None and is_registry_source(version.source):
        ctx.warn(
            ("spec", "models", m_index, "versions", model.versions.index(version), "source"),
            f"'{version.source}' is not in aiplane.lock; passed to vLLM unresolved",
            "run `aiplane lock update STACK` (or plan) to pin it",
        )
    container: Obj = {
        "name": "vllm",
        "image": image,
        "command": ["vllm", "serve"],
        "args": vllm_args(model, version, resolved),
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": _env(model),
        "resources": _resources(ctx, m_index, model, pool, planned),
        "volumeMounts": mounts,
        **_probes(model, ctx.loaded),
    }
    pod: Obj = {
        "containers": [container],
        **fetch_init(ctx, version, resolved),
        "volumes": volumes,
        # Lets in-flight generations finish after the pod leaves the Service endpoints.
        "terminationGracePeriodSeconds": 60,
    }
    if pool is not None:
        pod["nodeSelector"] = _node_selector(ctx, m_index, model, dep, pool, planned)
        if pool.taints:
            pod["tolerations"] = tolerations(pool)
    if model.priority:
        pod["priorityClassName"] = model.priority
    if serving.service_account_name:
        pod["serviceAccountName"] = serving.service_account_name
    return pod


def cache_claim_name(model: Model) -> str | None:
    """The PersistentVolumeClaim the model cache lives on (None: an emptyDir)."""
    cache = model.serving.cache
    if cache is None:
        return None
    return cache.claim_name or f"{model.name}-cache"


def _pvc_claim(source: str) -> str | None:
    if not source.startswith("pvc://"):
        return None
    return source.removeprefix("pvc://").split("/", 1)[0]


def _env_value(name: str, value: EnvValue) -> Obj:
    if isinstance(value, EnvSource):
        ref = value.secret_ref
        return {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}
    if isinstance(value, bool):
        return {"name": name, "value": "true" if value else "false"}
    return {"name": name, "value": str(value)}


def _env(model: Model) -> list[Obj]:
    env: list[Obj] = [{"name": "HF_HOME", "value": CACHE_DIR}]
    ref = model.serving.api_key_secret
    if ref is not None:
        # vLLM reads VLLM_API_KEY; the value stays in the Secret.
        env.append(
            {
                "name": "VLLM_API_KEY",
                "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
            }
        )
    merged = {**model.serving.env, **model.env}  # the model's own env wins
    env.extend(_env_value(k, v) for k, v in sorted(merged.items()))
    return env


def _node_selector(
    ctx: Context,
    m_index: int,
    model: Model,
    dep: Deployment,
    pool: GpuPool,
    planned: ModelPlacement | None,
) -> dict[str, str]:
    selector = dict(planned.node_selector) if planned is not None else {}
    selector = selector or pool.selector()
    # In a mig: auto pool every model's replicas sit where the planner put them, pinned or not.
    group, spread = model_node_group(ctx, pool, model, dep)
    if group is not None:
        selector[NODE_GROUP_LABEL] = group
    elif spread and pool.mig.strategy == "single":
        # Every slice is nvidia.com/gpu under single: only the node group tells them apart.
        ctx.warn(
            ("spec", "models", m_index, "resources"),
            "the planner spread this model over node groups with different MIG layouts; "
            "under strategy single its pods may land on a slice of another size",
            "use strategy: mixed for the pool",
        )
    return selector


def _resources(
    ctx: Context,
    m_index: int,
    model: Model,
    pool: GpuPool | None,
    planned: ModelPlacement | None,
) -> Obj:
    res = model.resources
    serving = model.serving
    count = res.gpus or serving.tensor_parallel_size * serving.pipeline_parallel_size
    profile = res.mig_profile
    if planned is not None:
        whole = planned.slice == WHOLE_GPU
        count, profile = (planned.resource_count, None) if whole else (1, planned.slice)
    elif res.auto:
        ctx.warn(
            ("spec", "models", m_index, "resources"),
            f"the GPU planner has no placement for this model; render requests {count} whole "
            "GPU(s)",
            "give the model a pool with a GPU from the catalog",
        )
    key, count = accelerator(pool, count, profile)
    limits: dict[str, str] = {key: str(count)}
    requests: dict[str, str] = {}
    workers = count if profile is None and key.endswith("/gpu") else 1
    cpu, memory = host_requests(model, ctx.loaded, workers)
    requests["cpu"] = quantity(res.cpu) if res.cpu else cpu
    requests["memory"] = quantity(res.memory) if res.memory else memory
    if res.memory:
        limits["memory"] = requests["memory"]
    out: Obj = {"limits": limits}
    if requests:
        out["requests"] = requests
    return out


def host_requests(model: Model, loaded: LoadedStack, workers: int) -> tuple[str, str]:
    """CPU and memory requests derived from the model when the stack gives none.

    Each GPU worker process needs about 2 cores and 4 GiB (CUDA context, PyTorch, tokenizer) and
    the API server one more core; loading passes each worker's shard of the weights through host
    memory; ``swapSpaceGb`` is host memory per GPU. Unknown weights count as 16 GiB."""
    weights = weights_gib(model, loaded)
    shard = (16.0 if weights is None else weights) / max(workers, 1)
    swap = model.serving.swap_space_gb or 0.0
    memory = math.ceil(4 * workers + shard + swap * workers)
    return str(2 * workers + 1), f"{memory}Gi"


def _cache_volume(model: Model, loaded: LoadedStack) -> Obj:
    claim = cache_claim_name(model)
    if claim is not None:
        return {"name": "model-cache", "persistentVolumeClaim": {"claimName": claim}}
    size = weights_gib(model, loaded)
    if size is None:
        return {"name": "model-cache", "emptyDir": {}}
    # weights plus HF cache overhead
    return {"name": "model-cache", "emptyDir": {"sizeLimit": f"{math.ceil(size * 1.2)}Gi"}}


def _probes(model: Model, loaded: LoadedStack) -> Obj:
    # /health answers only once weights are loaded, so only the startupProbe carries the budget;
    # liveness then catches a dead engine (503 on EngineDeadError) quickly.
    period = 10
    http = {"path": "/health", "port": "http"}
    return {
        "startupProbe": {
            "httpGet": http,
            "periodSeconds": period,
            "timeoutSeconds": 5,
            "failureThreshold": math.ceil(startup_budget_seconds(model, loaded) / period),
        },
        "readinessProbe": {
            "httpGet": http,
            "periodSeconds": 5,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": http,
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 6,
        },
    }
