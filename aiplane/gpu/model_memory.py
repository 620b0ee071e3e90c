"""Resolve a model's architecture and estimate its memory from its serving settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiplane.stack.loader import LoadedStack
from aiplane.stack.models import Model

if TYPE_CHECKING:
    from aiplane.gpu.architectures import ModelArch
    from aiplane.gpu.memory import MemoryEstimate


def resolve_arch(loaded: LoadedStack | None, model: Model) -> ModelArch | None:
    """The model's architecture: explicit facts, a catalog name, a config.json, or the HF source."""
    from aiplane.gpu.architectures import ModelArch, arch_from_config_json, get_arch

    arch = model.architecture
    if arch is None:
        for version in model.versions:
            if version.source.startswith("hf://"):
                found = get_arch(version.source.removeprefix("hf://"))
                if found:
                    return found
        return None
    if arch.catalog:
        return get_arch(arch.catalog)
    if arch.config_json:
        from pathlib import Path

        # A stack built in memory (no file) resolves paths from the working directory.
        base = Path(loaded.path).parent if loaded is not None else Path()
        return arch_from_config_json(str(base / arch.config_json))
    assert arch.parameters_b and arch.layers and arch.kv_heads and arch.head_dim
    return ModelArch(
        name=model.name,
        parameters_b=arch.parameters_b,
        layers=arch.layers,
        kv_heads=arch.kv_heads,
        head_dim=arch.head_dim,
    )


def estimate_for(loaded: LoadedStack | None, model: Model) -> MemoryEstimate | None:
    """Memory per GPU for one replica of ``model``, or None when the architecture is unknown."""
    from aiplane.gpu.memory import estimate_memory

    arch = resolve_arch(loaded, model)
    if arch is None:
        return None
    serving = model.serving
    return estimate_memory(
        arch,
        dtype=serving.dtype if serving.dtype != "auto" else "bfloat16",
        quantization=serving.quantization,
        kv_cache_dtype=serving.kv_cache_dtype,
        max_model_len=serving.max_model_len or 8192,
        max_num_seqs=1,
        tensor_parallel_size=serving.tensor_parallel_size * serving.pipeline_parallel_size,
    )
