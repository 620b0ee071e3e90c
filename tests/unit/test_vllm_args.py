"""The vLLM argument table (generated from vLLM's source) and the checks built on it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from aiplane.engines.vllm import check_vllm_args, load_table, normalise_flag
from aiplane.errors import Diagnostic
from aiplane.render.vllm_args import vllm_args
from aiplane.stack.loader import LoadedStack, parse_stack


def stack(serving: str) -> LoadedStack:
    text = textwrap.dedent(
        """\
        apiVersion: aiplane.dev/v1alpha1
        kind: Stack
        metadata: {name: t}
        spec:
          models:
            - name: m
              versions: [{name: v1, source: "hf://org/m"}]
              deployments: [{version: v1, stage: production}]
              serving:
        """
    ) + textwrap.indent(textwrap.dedent(serving), "        ")
    return parse_stack(text.encode(), "t.yaml")


def errors(found: list[Diagnostic]) -> list[str]:
    return [d.format() for d in found if d.severity == "error"]


def test_table_covers_the_swap_space_removal() -> None:
    table = load_table()
    assert "0.17.1" in table.releases and "0.18.0" in table.releases
    entry = table.args["--swap-space"]
    assert entry["last"] == "0.17.1" and entry["type"] == "float"
    assert table.args["--tensor-parallel-size"]["type"] == "int"
    assert "-tp" in table.args["--tensor-parallel-size"]["aliases"]
    assert table.args["--enable-prefix-caching"]["negatable"] is True


def test_swap_space_accepted_on_0_17_1() -> None:
    assert errors(check_vllm_args(stack('engineVersion: "0.17.1"\nswapSpaceGb: 4\n'))) == []


@pytest.mark.parametrize("version", ["0.18.0", "0.19.1", "0.33.0", "0.40.0"])
def test_swap_space_rejected_from_0_18(version: str) -> None:
    found = errors(check_vllm_args(stack(f'engineVersion: "{version}"\nswapSpaceGb: 4\n')))
    assert len(found) == 1
    assert "t.yaml:" in found[0] and "serving.swapSpaceGb" in found[0]
    assert "--swap-space was removed in vLLM 0.18.0" in found[0]
    assert "engineVersion to 0.17.1" in found[0]  # the hint


def test_unknown_extra_arg_gets_did_you_mean() -> None:
    found = errors(
        check_vllm_args(stack('engineVersion: "0.17.1"\nextraArgs: {--max-num-seq: 8}\n'))
    )
    assert len(found) == 1 and "did you mean '--max-num-seqs'?" in found[0]


def test_underscore_spelling_and_types() -> None:
    ok = check_vllm_args(
        stack('engineVersion: "0.17.1"\nextraArgs: {enforce_eager: true, --seed: 7}\n')
    )
    assert errors(ok) == []
    bad = errors(check_vllm_args(stack('engineVersion: "0.17.1"\nextraArgs: {--seed: abc}\n')))
    assert bad and "expects an integer" in bad[0]


def test_flag_newer_than_the_engine_is_rejected() -> None:
    table = load_table()
    newer = next(f for f, e in table.args.items() if e["first"] == "0.33.0")
    found = errors(
        check_vllm_args(stack(f'engineVersion: "0.17.1"\nextraArgs: {{{newer}: "1"}}\n'))
    )
    assert found and "needs vLLM 0.33.0 or newer" in found[0]


def test_renamed_flag_is_translated_with_a_warning() -> None:
    loaded = stack('engineVersion: "0.33.0"\nextraArgs: {--override-pooler-config: "{}"}\n')
    found = check_vllm_args(loaded)
    assert errors(found) == []
    assert any("renamed to --pooler-config" in d.message for d in found if d.severity == "warning")
    model = loaded.stack.spec.models[0]
    args = vllm_args(model, model.versions[0])
    assert "--pooler-config" in args and "--override-pooler-config" not in args


def test_owned_flags_cannot_be_overridden() -> None:
    found = errors(check_vllm_args(stack('engineVersion: "0.17.1"\nextraArgs: {--port: 9000}\n')))
    assert found and "set by aiplane" in found[0]


def test_boolean_false_uses_the_no_form() -> None:
    loaded = stack('engineVersion: "0.17.1"\nenablePrefixCaching: false\n')
    model = loaded.stack.spec.models[0]
    args = vllm_args(model, model.versions[0])
    assert "--no-enable-prefix-caching" in args


def test_normalise_flag() -> None:
    assert normalise_flag("max_model_len") == "--max-model-len"
    assert normalise_flag("--gpu_memory_utilization") == "--gpu-memory-utilization"


def test_generator_script_is_in_the_repo() -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "gen_vllm_args.py"
    assert "DEFAULT_RELEASES" in script.read_text()


def test_generator_extracts_flags_statically() -> None:
    """The AST extraction on a miniature of vLLM's arg_utils.py and cli_args.py (no network)."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "gen_vllm_args.py"
    spec = importlib.util.spec_from_file_location("gen_vllm_args", path)
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    engine = textwrap.dedent(
        """\
        import argparse
        class EngineArgs:
            swap_space: float = 4
            enable_prefix_caching: bool | None = None
            tensor_parallel_size: int = 1
        def _compute_kwargs(cls):
            kwargs["action"] = argparse.BooleanOptionalAction
        def add_cli_args(parser, cache_kwargs, parallel_kwargs):
            parser.add_argument("--swap-space", **cache_kwargs["swap_space"])
            parser.add_argument("--enable-prefix-caching",
                                **{**cache_kwargs["enable_prefix_caching"], "default": None})
            parser.add_argument("--tensor-parallel-size", "-tp",
                                **parallel_kwargs["tensor_parallel_size"])
        """
    )
    frontend = textwrap.dedent(
        """\
        class FrontendArgs:
            host: str | None = None
            port: int = 8000
            def add_cli_args(cls, parser, frontend_kwargs):
                for key, value in frontend_kwargs.items():
                    parser.add_argument(f"--{key.replace('_', '-')}", **value)
        """
    )
    flags = gen.flags_of_release(
        {"vllm/engine/arg_utils.py": engine, "vllm/entrypoints/openai/cli_args.py": frontend}
    )
    assert flags["--swap-space"]["type"] == "float"
    assert flags["--enable-prefix-caching"]["type"] == "bool"
    assert flags["--enable-prefix-caching"]["negatable"] is True
    assert flags["--tensor-parallel-size"]["aliases"] == ["-tp"]
    assert flags["--port"]["type"] == "int" and "--host" in flags


def test_engine_outside_the_table_is_a_warning() -> None:
    found = check_vllm_args(stack('engineVersion: "0.40.0"\n'))
    assert errors(found) == []
    assert any("newer than the releases" in d.message for d in found)
    assert check_vllm_args(stack('engineVersion: "0.17.1"\n')) == []
