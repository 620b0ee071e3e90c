"""How big a served model is and what that means for its pods: weights, startup time, rollout.

Sizes come from the architecture the memory estimate uses (explicit facts, the architecture
catalog or a config.json), else from a size in a name (``70B``).
"""

from __future__ import annotations

import re

from aiplane.render.common import Context
from aiplane.stack.loader import LoadedStack
from aiplane.stack.models import Model

_PARAMS_B = re.compile(r"(?<![0-9.])([0-9]+(?:\.[0-9]+)?)[bB](?![a-zA-Z0-9])")


def parameters_billion(model: Model, loaded: LoadedStack | None = None) -> float | None:
    """Billions of parameters: explicit facts, the architecture catalog, else a name (``70B``)."""
    arch = model.architecture
    if arch is not None and arch.parameters_b is not None:
        return arch.parameters_b
    if loaded is not None:
        # The same architecture catalog (or config.json) the memory estimate uses.
        from aiplane.gpu.model_memory import resolve_arch

        try:
            known = resolve_arch(loaded, model)
        except (OSError, ValueError):
            known = None
        if known is not None:
            return known.parameters_b
    texts = [arch.catalog or "" if arch else "", model.name, *(v.source for v in model.versions)]
    for text in texts:
        found = _PARAMS_B.findall(text)
        if found:
            return float(found[-1])
    return None


def weights_gib(model: Model, loaded: LoadedStack | None = None) -> float | None:
    params = parameters_billion(model, loaded)
    if params is None:
        return None
    quant = (model.serving.quantization or "").lower()
    if any(q in quant for q in ("awq", "gptq", "bitsandbytes", "nf4", "int4")):
        per_param = 0.5
    elif any(q in quant for q in ("fp8", "int8", "w8a8")):
        per_param = 1.0
    elif model.serving.dtype in ("float", "float32"):
        per_param = 4.0
    else:
        per_param = 2.0
    return params * 1e9 * per_param / 2**30


def startup_budget_seconds(model: Model, loaded: LoadedStack | None = None) -> int:
    """How long the startupProbe waits: download + load + CUDA graph capture.

    5 minutes of fixed cost plus 8 s per GiB of weights (about 130 MB/s from a remote store),
    bounded to [10 min, 2 h]; 30 minutes when the size is unknown.
    """
    size = weights_gib(model, loaded)
    if size is None:
        return 1800
    return min(7200, max(600, int(300 + 8 * size)))


def whole_gpus(model: Model) -> int:
    """Whole GPUs one replica asks for (0 for a MIG slice)."""
    if model.resources.mig_profile:
        return 0
    serving = model.serving
    return model.resources.gpus or serving.tensor_parallel_size * serving.pipeline_parallel_size


def rollout(ctx: Context, model: Model) -> dict[str, int]:
    """Surge one pod when the pool has the GPUs for it, else replace pods in place.

    A surge pod of a GPU model needs a whole extra replica's GPUs; on a pool the stack already
    fills (seed: 2 stages x 4 GPUs on one 8-GPU node) it would stay Pending and the rollout would
    never finish, so such Deployments roll with maxSurge 0 / maxUnavailable 1 instead.
    """
    spec = ctx.loaded.stack.spec
    pool = spec.pool(model.pool) if model.pool else None
    need = whole_gpus(model)
    if pool is None or pool.nodes is None or need == 0:
        return {"maxSurge": 1, "maxUnavailable": 0}
    used = sum(
        whole_gpus(m) * (d.replicas or m.replicas)
        for m in spec.models
        if m.pool == pool.name
        for d in m.deployments
    )
    if used + need <= pool.nodes * pool.gpus_per_node:
        return {"maxSurge": 1, "maxUnavailable": 0}
    return {"maxSurge": 0, "maxUnavailable": 1}
