"""Memory model against worked examples, and the architecture catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiplane.gpu.architectures import (
    ModelArch,
    arch_from_config_json,
    arch_names,
    get_arch,
    quantization_from_name,
)
from aiplane.gpu.memory import estimate_memory


def _arch(name: str) -> ModelArch:
    arch = get_arch(name)
    assert arch is not None
    return arch


LLAMA_8B = _arch("Llama-3.1-8B")
LLAMA_70B = _arch("Llama-3.1-70B")


def test_llama_8b_anchor() -> None:
    estimate = estimate_memory(LLAMA_8B, max_model_len=8192)
    assert estimate.weights_gib == pytest.approx(14.96, abs=0.01)
    assert estimate.kv_bytes_per_token == 131_072
    assert estimate.kv_cache_gib == pytest.approx(1.0)
    # H100-80GB (79.18 GiB visible) at utilisation 0.9: 51 full 8k sequences.
    assert estimate.fits(79.18, 0.9)[0]
    assert estimate.full_sequences(79.18, 0.9) == 51
    assert estimate.full_sequences(39.5, 0.9) == 15  # MIG 3g.40gb


def test_llama_8b_does_not_start_on_2g_20gb_in_bf16_but_fp8_does() -> None:
    bf16 = estimate_memory(LLAMA_8B, max_model_len=8192)
    fits, shortfall = bf16.fits(19.62, 0.9)
    assert not fits and shortfall < 0
    fp8 = estimate_memory(LLAMA_8B, max_model_len=8192, quantization="fp8", kv_cache_dtype="fp8")
    assert fp8.weights_gib == pytest.approx(8.46, abs=0.01)
    assert fp8.kv_bytes_per_token == 65_536
    assert fp8.fits(19.62, 0.9)[0]


@pytest.mark.parametrize(
    ("tp", "quantization", "weights", "kv_per_token", "sequences"),
    [
        (1, None, 131.42, 327_680, 0),
        (2, None, 65.71, 163_840, 0),
        (4, None, 32.85, 81_920, 52),
        (2, "fp8", 33.83, 163_840, 25),
        (1, "awq", 37.78, 327_680, 11),
    ],
)
def test_llama_70b_worked_examples(
    tp: int, quantization: str | None, weights: float, kv_per_token: int, sequences: int
) -> None:
    estimate = estimate_memory(
        LLAMA_70B, max_model_len=8192, tensor_parallel_size=tp, quantization=quantization
    )
    assert estimate.weights_gib == pytest.approx(weights, abs=0.01)
    assert estimate.kv_bytes_per_token == kv_per_token
    assert estimate.full_sequences(79.18, 0.9) == sequences


def test_kv_heads_are_replicated_beyond_their_count() -> None:
    qwen = _arch("Qwen2.5-0.5B")  # 2 KV heads
    tp4 = estimate_memory(qwen, max_model_len=1024, tensor_parallel_size=4)
    tp1 = estimate_memory(qwen, max_model_len=1024)
    assert tp4.kv_bytes_per_token == tp1.kv_bytes_per_token // 2


def test_more_sequences_and_overhead_override() -> None:
    one = estimate_memory(LLAMA_8B, max_model_len=4096)
    four = estimate_memory(LLAMA_8B, max_model_len=4096, max_num_seqs=4)
    assert four.kv_cache_gib == pytest.approx(4 * one.kv_cache_gib)
    small = estimate_memory(LLAMA_8B, max_model_len=4096, activation_gib=1.0)
    assert small.overhead_gib == pytest.approx(1.15)
    assert one.required_capacity_gib(0.9) == pytest.approx(one.per_gpu_gib / 0.9)


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown quantization 'q3'"):
        estimate_memory(LLAMA_8B, max_model_len=1, quantization="q3")
    with pytest.raises(ValueError, match="must be >= 1"):
        estimate_memory(LLAMA_8B, max_model_len=0)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("meta-llama/Llama-3.1-70B-Instruct", "Llama-3.1-70B"),
        ("META-LLAMA/META-LLAMA-3.1-8B-INSTRUCT", "Llama-3.1-8B"),
        ("meta-llama/Llama-3.3-70B-Instruct", "Llama-3.1-70B"),
        ("meta-llama/Llama-3.2-1B-Instruct", "Llama-3.2-1B"),
        ("meta-llama/Llama-3.1-405B-Instruct-FP8", "Llama-3.1-405B"),
        ("Qwen/Qwen2.5-7B-Instruct-AWQ", "Qwen2.5-7B"),
        ("mistralai/Mistral-7B-Instruct-v0.3", "Mistral-7B"),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", "Mixtral-8x7B"),
        ("google/gemma-2-27b-it", "Gemma-2-27B"),
    ],
)
def test_hf_ids_resolve(name: str, expected: str) -> None:
    assert _arch(name).name == expected


def test_unknown_model_and_quantization_hints() -> None:
    assert get_arch("acme/secret-model") is None
    assert quantization_from_name("Qwen/Qwen2.5-7B-Instruct-AWQ") == "awq"
    assert quantization_from_name("neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8") == "fp8"
    assert quantization_from_name("meta-llama/Llama-3.1-8B") is None


def test_catalog_facts_are_consistent() -> None:
    assert len(arch_names()) >= 15
    for name in arch_names():
        arch = _arch(name)
        assert arch.name == name
        assert arch.layers > 0 and arch.kv_heads > 0 and arch.head_dim > 0
        assert arch.embedding_parameters < arch.parameters


LLAMA_8B_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "max_position_embeddings": 131072,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
}


def test_config_json_counts_parameters_exactly(tmp_path: Path) -> None:
    path = tmp_path / "Llama-3.1-8B" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(LLAMA_8B_CONFIG), encoding="utf-8")
    arch = arch_from_config_json(path)
    assert arch.parameters == 8_030_261_248
    assert (arch.layers, arch.kv_heads, arch.head_dim) == (32, 8, 128)
    assert arch.name == "Llama-3.1-8B" and not arch.moe
    assert estimate_memory(arch, max_model_len=8192).weights_gib == pytest.approx(14.96, abs=0.01)


def test_config_json_moe_and_quantisation(tmp_path: Path) -> None:
    config = {
        **LLAMA_8B_CONFIG,
        "model_type": "mixtral",
        "vocab_size": 32000,
        "num_local_experts": 8,
        "max_position_embeddings": 32768,
        "quantization_config": {"quant_method": "awq", "bits": 4},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    arch = arch_from_config_json(path)
    assert arch.moe and arch.checkpoint_quantization == "awq"
    assert arch.parameters == pytest.approx(46_702_792_704, rel=1e-6)


def test_config_json_must_name_the_layers(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"hidden_size": 8}), encoding="utf-8")
    with pytest.raises(ValueError, match="num_attention_heads"):
        arch_from_config_json(path)


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(arch_names()),
    length=st.integers(1, 131072),
    seqs=st.integers(1, 8),
    tp=st.sampled_from([1, 2, 4, 8]),
)
def test_estimates_are_monotone(name: str, length: int, seqs: int, tp: int) -> None:
    arch = _arch(name)
    base = estimate_memory(arch, max_model_len=length, max_num_seqs=seqs, tensor_parallel_size=tp)
    longer = estimate_memory(
        arch, max_model_len=length + 1024, max_num_seqs=seqs, tensor_parallel_size=tp
    )
    assert longer.per_gpu_gib >= base.per_gpu_gib
    parts = base.weights_gib + base.kv_cache_gib + base.overhead_gib
    assert base.per_gpu_gib == pytest.approx(parts, abs=0.01)
    assert base.total_gib == pytest.approx(base.per_gpu_gib * tp, abs=0.01)
