"""GPU memory a vLLM-style server needs, per tensor-parallel shard.

Per GPU (``tp`` = tensor-parallel size)::

    weights  = (P - E) * q + E * e                            all divided by tp
    kv       = 2 * layers * ceil(kv_heads / tp) * head_dim * kv_bytes * max_model_len * seqs
    overhead = activation peak + non-torch memory
    per_gpu  = weights + kv + overhead

* ``P`` parameters, ``E`` embedding/LM-head parameters. ``q`` bytes per weight: 2 for
  BF16/FP16, 1 for FP8/INT8, 0.53125 for 4-bit AWQ/GPTQ (0.5 plus ~4 bytes of scales and zeros
  per group of 128). Quantised checkpoints keep embeddings at the activation dtype, so ``e`` is
  the ``dtype`` size then (and ``q`` otherwise).
* KV cache per token: 2 (K and V) * layers * KV heads * head size * cache dtype bytes — vLLM's
  ``AttentionSpec`` page size. KV heads are split across TP ranks, but never below one per rank
  (vLLM replicates them). MLA models store one latent per layer instead.
* The KV term reserves ``max_num_seqs`` sequences of the full ``max_model_len`` — at least one,
  because vLLM refuses to start unless one full-length sequence fits ("To serve at least one
  request with the models's max seq len ..."). Further concurrency shares whatever is left.
* Overhead: the activation peak measured by llm-d's capacity planner on H100 with vLLM (4.8 GiB
  Llama, 5.5 other dense, 8.0 MoE, 2.5 multimodal; it scales with ``max_num_batched_tokens``,
  pass ``activation_gib`` when you lower that) plus non-torch memory (0.15 GiB, 0.6 with TP).

vLLM may use ``gpu_memory_utilization`` * the device (or MIG instance) memory, so a model fits
when ``per_gpu <= capacity * utilization`` (``MemoryEstimate.fits``).

Worked anchor: Llama-3.1-8B BF16 has 8,030,261,248 parameters → 14.96 GiB of weights, and
2 * 32 * 8 * 128 * 2 = 131,072 bytes of KV cache per token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aiplane.gpu.architectures import ModelArch

GIB = 1024**3

DTYPE_BYTES = {
    "float32": 4.0,
    "fp32": 4.0,
    "bfloat16": 2.0,
    "bf16": 2.0,
    "float16": 2.0,
    "fp16": 2.0,
    "half": 2.0,
    "auto": 2.0,
}
QUANTIZATION_BYTES = {
    "fp8": 1.0,
    "int8": 1.0,
    "w8a8": 1.0,
    "awq": 0.53125,
    "gptq": 0.53125,
    "int4": 0.53125,
    "w4a16": 0.53125,
    "mxfp4": 4.25 / 8,
}
KV_CACHE_BYTES = {"fp8": 1.0, "fp8_e4m3": 1.0, "fp8_e5m2": 1.0, "int8": 1.0, **DTYPE_BYTES}

ACTIVATION_GIB = {"llama": 4.8, "dense": 5.5, "moe": 8.0, "multimodal": 2.5}
NON_TORCH_GIB = {1: 0.15, 2: 0.6}


@dataclass(frozen=True)
class MemoryEstimate:
    """GiB per GPU (``per_gpu_gib`` = weights + KV cache + overhead) and over all shards."""

    weights_gib: float
    kv_cache_gib: float
    overhead_gib: float
    per_gpu_gib: float
    total_gib: float
    kv_bytes_per_token: int
    tensor_parallel_size: int = 1
    max_model_len: int = 0

    def fits(self, capacity_gib: float, gpu_memory_utilization: float) -> tuple[bool, float]:
        """(fits?, headroom in GiB; negative = shortfall) on a device of ``capacity_gib``."""
        budget = capacity_gib * gpu_memory_utilization
        headroom = round(budget - self.per_gpu_gib, 3)
        return headroom >= 0, headroom

    def required_capacity_gib(self, gpu_memory_utilization: float) -> float:
        """Smallest device (or MIG instance) memory that fits at this utilisation."""
        return self.per_gpu_gib / gpu_memory_utilization

    def full_sequences(self, capacity_gib: float, gpu_memory_utilization: float) -> int:
        """How many ``max_model_len`` sequences the leftover KV budget holds at once."""
        per_seq = self.kv_bytes_per_token * self.max_model_len / GIB
        budget = capacity_gib * gpu_memory_utilization - self.weights_gib - self.overhead_gib
        return max(0, math.floor(budget / per_seq)) if per_seq > 0 else 0


def _lookup(table: dict[str, float], key: str, what: str) -> float:
    value = table.get(key.lower())
    if value is None:
        raise ValueError(f"unknown {what} '{key}' (known: {', '.join(sorted(table))})")
    return value


def weight_bytes(
    arch: ModelArch, dtype: str = "bfloat16", quantization: str | None = None
) -> float:
    """Bytes of weights over all shards."""
    dense = _lookup(DTYPE_BYTES, dtype, "dtype")
    method = quantization if quantization is not None else arch.checkpoint_quantization
    if method is None:
        return arch.parameters * dense
    quant = _lookup(QUANTIZATION_BYTES, method, "quantization")
    embeddings = min(arch.embedding_parameters, arch.parameters)
    return (arch.parameters - embeddings) * quant + embeddings * dense


def kv_bytes_per_token(
    arch: ModelArch, kv_cache_dtype: str = "auto", dtype: str = "bfloat16", tp: int = 1
) -> int:
    """KV-cache bytes one token needs on one tensor-parallel rank."""
    size = _lookup(KV_CACHE_BYTES, dtype if kv_cache_dtype == "auto" else kv_cache_dtype, "dtype")
    if arch.kv_lora_rank:
        return int(arch.layers * (arch.kv_lora_rank + (arch.rope_head_dim or 0)) * size)
    heads = math.ceil(arch.kv_heads / tp)
    return int(2 * arch.layers * heads * arch.head_dim * size)


def default_activation_gib(arch: ModelArch) -> float:
    """Activation peak of a profiling forward pass at vLLM's default batch-token budget."""
    if arch.multimodal:
        return ACTIVATION_GIB["multimodal"]
    if arch.moe:
        return ACTIVATION_GIB["moe"]
    return ACTIVATION_GIB["llama" if arch.name.lower().startswith("llama") else "dense"]


def estimate_memory(
    arch: ModelArch,
    *,
    dtype: str = "bfloat16",
    quantization: str | None = None,
    kv_cache_dtype: str = "auto",
    max_model_len: int,
    max_num_seqs: int = 1,
    tensor_parallel_size: int = 1,
    activation_gib: float | None = None,
) -> MemoryEstimate:
    """Per-GPU memory for serving ``arch`` (see the module docstring for the formula).

    ``max_num_seqs`` is the number of *full-length* sequences to reserve KV cache for (default
    one, vLLM's start-up condition), not vLLM's ``--max-num-seqs`` batch cap: short requests
    share the leftover KV pool and need no reservation.
    """
    if max_model_len < 1 or max_num_seqs < 1 or tensor_parallel_size < 1:
        raise ValueError("max_model_len, max_num_seqs and tensor_parallel_size must be >= 1")
    tp = tensor_parallel_size
    weights = weight_bytes(arch, dtype, quantization) / tp / GIB
    per_token = kv_bytes_per_token(arch, kv_cache_dtype, dtype, tp)
    kv = per_token * max_model_len * max_num_seqs / GIB
    activation = default_activation_gib(arch) if activation_gib is None else activation_gib
    overhead = activation + NON_TORCH_GIB[1 if tp == 1 else 2]
    per_gpu = weights + kv + overhead
    return MemoryEstimate(
        weights_gib=round(weights, 3),
        kv_cache_gib=round(kv, 3),
        overhead_gib=round(overhead, 3),
        per_gpu_gib=round(per_gpu, 3),
        total_gib=round(per_gpu * tp, 3),
        kv_bytes_per_token=per_token,
        tensor_parallel_size=tp,
        max_model_len=max_model_len,
    )
