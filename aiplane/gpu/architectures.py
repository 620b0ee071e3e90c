"""Architecture facts of common open LLMs, and reading them from a local ``config.json``.

Only what memory estimation needs: parameter count, layers, KV heads, head size, hidden size,
vocabulary (16-bit embeddings stay unquantised in most quantised checkpoints) and whether the
model is a mixture of experts (bigger activation peak). Values come from each model's published
``config.json``; parameter counts are the safetensors totals.

Lookup is case-insensitive and accepts Hugging Face ids: the organisation, ``Meta-`` prefixes and
variant suffixes (``-Instruct``, ``-it``, ``-AWQ``, ``-FP8`` ...) are dropped, so
``meta-llama/Llama-3.1-70B-Instruct`` and ``llama-3.3-70b`` both find ``Llama-3.1-70B``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class ModelArch:
    """What the memory model needs to know about one model architecture."""

    name: str
    parameters_b: float
    layers: int
    kv_heads: int
    head_dim: int
    hidden_size: int | None = None
    attention_heads: int | None = None
    vocab_size: int | None = None
    tie_word_embeddings: bool = False
    max_context: int | None = None
    moe: bool = False
    multimodal: bool = False
    # Multi-head latent attention (DeepSeek): the cache holds one latent per token and layer.
    kv_lora_rank: int | None = None
    rope_head_dim: int | None = None
    # Quantisation the checkpoint ships with (from ``quantization_config``), if any.
    checkpoint_quantization: str | None = None

    @property
    def parameters(self) -> int:
        return round(self.parameters_b * 1e9)

    @property
    def embedding_parameters(self) -> int:
        """Input embeddings plus the LM head unless tied; 0 when the vocabulary is unknown."""
        if not self.vocab_size or not self.hidden_size:
            return 0
        tables = 1 if self.tie_word_embeddings else 2
        return self.vocab_size * self.hidden_size * tables


def _llama(
    name: str, params: int, layers: int, hidden: int, heads: int, head_dim: int
) -> ModelArch:
    tied = hidden <= 3072  # Llama 3.2 1B/3B tie the LM head to the embeddings
    return ModelArch(name, params / 1e9, layers, 8, head_dim, hidden, heads, 128256, tied, 131072)


def _qwen(
    name: str, params: int, layers: int, hidden: int, heads: int, kv: int, tied: bool
) -> ModelArch:
    vocab = 151936 if params < 7e9 else 152064
    head_dim = hidden // heads
    return ModelArch(name, params / 1e9, layers, kv, head_dim, hidden, heads, vocab, tied, 32768)


_CATALOG: tuple[ModelArch, ...] = (
    _llama("Llama-3.2-1B", 1_235_814_400, 16, 2048, 32, 64),
    _llama("Llama-3.2-3B", 3_212_749_824, 28, 3072, 24, 128),
    _llama("Llama-3.1-8B", 8_030_261_248, 32, 4096, 32, 128),
    _llama("Llama-3.1-70B", 70_553_706_496, 80, 8192, 64, 128),
    _llama("Llama-3.1-405B", 405_853_388_800, 126, 16384, 128, 128),
    _qwen("Qwen2.5-0.5B", 494_032_768, 24, 896, 14, 2, True),
    _qwen("Qwen2.5-1.5B", 1_543_714_304, 28, 1536, 12, 2, True),
    _qwen("Qwen2.5-3B", 3_085_938_688, 36, 2048, 16, 2, True),
    _qwen("Qwen2.5-7B", 7_615_616_512, 28, 3584, 28, 4, False),
    _qwen("Qwen2.5-14B", 14_770_033_664, 48, 5120, 40, 8, False),
    _qwen("Qwen2.5-32B", 32_763_876_352, 64, 5120, 40, 8, False),
    _qwen("Qwen2.5-72B", 72_706_203_648, 80, 8192, 64, 8, False),
    ModelArch("Mistral-7B", 7.248023552, 32, 8, 128, 4096, 32, 32768, False, 32768),
    ModelArch("Mixtral-8x7B", 46.702792704, 32, 8, 128, 4096, 32, 32000, False, 32768, True),
    ModelArch("Mixtral-8x22B", 140.620634112, 56, 8, 128, 6144, 48, 32768, False, 65536, True),
    ModelArch("Gemma-2-2B", 2.614341888, 26, 4, 256, 2304, 8, 256000, True, 8192),
    ModelArch("Gemma-2-9B", 9.241705984, 42, 8, 256, 3584, 16, 256000, True, 8192),
    ModelArch("Gemma-2-27B", 27.227128320, 46, 16, 128, 4608, 32, 256000, True, 8192),
)

# Other published names for the same weights shape (same layers, heads and parameter count).
_SAME_ARCH = {
    "llama-3-8b": "Llama-3.1-8B",
    "llama-3-70b": "Llama-3.1-70B",
    "llama-3.3-70b": "Llama-3.1-70B",
    "llama-3.1-405b-fp8": "Llama-3.1-405B",
    "mistral-7b-v0.3": "Mistral-7B",
    "mistral-7b-v0.2": "Mistral-7B",
    "mistral-7b-v0.1": "Mistral-7B",
    "mixtral-8x7b-v0.1": "Mixtral-8x7B",
    "mixtral-8x22b-v0.1": "Mixtral-8x22B",
}

# Variant tokens dropped wherever they appear ("Mistral-7B-Instruct-v0.3" → "mistral-7b-v0.3").
_VARIANT_TOKENS = re.compile(
    r"-(instruct|chat|it|hf|base|awq|gptq|int4|int8|fp8|dynamic|w4a16|w8a8|bnb-4bit)(?=-|$)"
)


def normalise_model_name(name: str) -> str:
    """``meta-llama/Meta-Llama-3.1-8B-Instruct-AWQ`` → ``llama-3.1-8b``."""
    text = name.strip().lower().rsplit("/", 1)[-1]
    text = re.sub(r"[\s_]+", "-", text)
    text = _VARIANT_TOKENS.sub("", text.removeprefix("meta-"))
    text = re.sub(r"^llama(\d)", r"llama-\1", text)  # "llama3.1-8b"
    return re.sub(r"-(\d{4})$", "", text)  # date-stamped releases such as "-2407"


_BY_KEY = MappingProxyType(
    {normalise_model_name(a.name): a for a in _CATALOG}
    | {k: a for k, n in _SAME_ARCH.items() for a in _CATALOG if a.name == n}
)


def get_arch(name: str) -> ModelArch | None:
    """Architecture for a catalog name or Hugging Face id (case-insensitive), or None."""
    return _BY_KEY.get(normalise_model_name(name))


def arch_names() -> list[str]:
    return [a.name for a in _CATALOG]


def quantization_from_name(name: str) -> str | None:
    """Quantisation implied by a checkpoint's name (``-AWQ`` → ``awq``), or None."""
    lowered = name.lower()
    for marker, method in (
        ("awq", "awq"),
        ("gptq", "gptq"),
        ("w4a16", "int4"),
        ("int4", "int4"),
        ("fp8", "fp8"),
        ("w8a8", "int8"),
        ("int8", "int8"),
    ):
        if marker in lowered:
            return method
    return None


def arch_from_config_json(path: str | Path) -> ModelArch:
    """Read a Hugging Face ``config.json``; parameters are counted from the layer shapes."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: not a JSON object")
    config: dict[str, Any] = raw.get("text_config") or raw  # multimodal wrappers
    hidden = _int(config, "hidden_size", "n_embd", "d_model")
    heads = _int(config, "num_attention_heads", "n_head")
    layers = _int(config, "num_hidden_layers", "n_layer")
    kv_heads = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or hidden // heads)
    experts = int(config.get("num_local_experts") or config.get("n_routed_experts") or 0)
    name = str(raw.get("_name_or_path") or Path(path).parent.name or "model")
    return ModelArch(
        name=name,
        parameters_b=_count_parameters(config, hidden, heads, kv_heads, head_dim, layers) / 1e9,
        layers=layers,
        kv_heads=kv_heads,
        head_dim=head_dim,
        hidden_size=hidden,
        attention_heads=heads,
        vocab_size=int(config.get("vocab_size") or 0) or None,
        tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
        max_context=int(config.get("max_position_embeddings") or 0) or None,
        moe=experts > 1,
        multimodal="text_config" in raw or "vision_config" in raw,
        kv_lora_rank=_optional_int(config, "kv_lora_rank"),
        rope_head_dim=_optional_int(config, "qk_rope_head_dim"),
        checkpoint_quantization=_config_quantization(raw.get("quantization_config")),
    )


def _int(config: dict[str, Any], *keys: str) -> int:
    for key in keys:
        if config.get(key):
            return int(config[key])
    raise ValueError(f"config.json has none of {', '.join(keys)}")


def _optional_int(config: dict[str, Any], key: str) -> int | None:
    value = config.get(key)
    return int(value) if value else None


def _count_parameters(
    config: dict[str, Any], hidden: int, heads: int, kv_heads: int, head_dim: int, layers: int
) -> int:
    """Dense or MoE decoder: embeddings, attention, gated MLP (per expert), router, norms.

    Exact for Llama/Qwen/Mistral/Mixtral-style configs; an approximation for others, which is
    fine because weights are a few percent of what placement rounds to anyway.
    """
    vocab = int(config.get("vocab_size") or 0)
    tied = bool(config.get("tie_word_embeddings", False))
    embeddings = vocab * hidden * (1 if tied else 2)
    attention = hidden * head_dim * (heads + 2 * kv_heads) + heads * head_dim * hidden
    if config.get("attention_bias") or config.get("model_type") == "qwen2":
        attention += head_dim * (heads + 2 * kv_heads)
    intermediate = int(config.get("intermediate_size") or 4 * hidden)
    experts = int(config.get("num_local_experts") or config.get("n_routed_experts") or 1)
    expert_size = int(config.get("moe_intermediate_size") or intermediate)
    mlp = 3 * hidden * expert_size * experts + (hidden * experts if experts > 1 else 0)
    per_layer = attention + mlp + 2 * hidden
    return embeddings + layers * per_layer + hidden


def _config_quantization(quant: object) -> str | None:
    if not isinstance(quant, dict):
        return None
    method = str(quant.get("quant_method") or "").lower()
    bits = int(quant.get("bits") or quant.get("w_bit") or 0)
    if method in {"awq", "gptq"}:
        return method if bits in (0, 4) else "int8"
    if method in {"fp8", "compressed-tensors", "modelopt"}:
        return "fp8"
    if method == "bitsandbytes":
        return "int4" if quant.get("load_in_4bit") else "int8"
    return method or None
