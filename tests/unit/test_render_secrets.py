"""No Secret value or credential ever appears in rendered output: only references.

The stack below sets every Secret-backed field there is. The test plants canary credential values
where a careless renderer could pick them up (the process environment, under the same names the
Secrets use) and checks that (1) no canary appears anywhere in the output, (2) no Secret object is
rendered, (3) every Secret name appears only inside a reference structure, and (4) a credential
pasted into the stack as a literal is refused.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from aiplane.check import load_and_check
from aiplane.commands.render import to_yaml
from aiplane.errors import StackError
from aiplane.render import render_stack

CANARY = "sk-CANARY-7f3a9c2e41d8b6"

STACK = textwrap.dedent(
    """\
    apiVersion: aiplane.dev/v1alpha1
    kind: Stack
    metadata: {name: secrets, namespace: sec}
    spec:
      gpuPools:
        - {name: pool, gpu: H100-80GB, gpusPerNode: 8}
      models:
        - name: m
          architecture: {parametersB: 8, layers: 32, kvHeads: 8, headDim: 128}
          versions: [{name: v1, source: "hf://org/m-8b"}]
          deployments: [{version: v1, stage: production}]
          serving:
            engineVersion: "0.11.0"
            apiKeySecret: {name: secret-vllm-key, key: token}
          env:
            HF_TOKEN: {secretRef: {name: secret-hf, key: token}}
          resources: {gpus: 1}
          pool: pool
      pipelines:
        - name: p
          steps:
            - name: s
              image: busybox:1.36
              env:
                WANDB_API_KEY: {secretRef: {name: secret-wandb, key: key}}
      routes:
        - name: r
          path: /v1
          backends:
            - name: oa
              weight: 50
              external: {provider: openai, model: gpt-4o, apiKeySecret: {name: secret-openai, key: apiKey}}
            - name: an
              weight: 30
              external: {provider: anthropic, model: claude, apiKeySecret: {name: secret-anthropic, key: apiKey}}
            - name: az
              weight: 20
              external:
                provider: azure-openai
                model: gpt-4o
                endpoint: https://acme.openai.azure.com
                apiKeySecret: {name: secret-azure, key: apiKey}
      vectorCollections:
        - name: c
          endpoint: http://qdrant:6333
          apiKeySecret: {name: secret-qdrant, key: api-key}
          dimension: 8
    """
)
SECRET_NAMES = {
    "secret-vllm-key",
    "secret-hf",
    "secret-wandb",
    "secret-openai",
    "secret-anthropic",
    "secret-azure",
    "secret-qdrant",
}


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "stack.yaml"
    path.write_text(text)
    return str(path)


def _walk(value: Any, trail: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    """Every string in the output with the keys leading to it."""
    if isinstance(value, dict):
        return [hit for k, v in value.items() for hit in _walk(v, (*trail, str(k)))]
    if isinstance(value, list):
        return [hit for v in value for hit in _walk(v, trail)]
    return [(trail, value)] if isinstance(value, str) else []


def test_only_references_reach_the_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "HF_TOKEN",
        "VLLM_API_KEY",
        "QDRANT_API_KEY",
    ):
        monkeypatch.setenv(name, CANARY)
    objects = render_stack(load_and_check(_write(tmp_path, STACK)))
    text = to_yaml(objects) + json.dumps(objects)
    assert CANARY not in text
    assert not [o for o in objects if o["kind"] == "Secret"]
    referenced = set()
    for trail, value in _walk(objects):
        if value not in SECRET_NAMES:
            continue
        referenced.add(value)
        where = "/".join(trail)
        # secretKeyRef (pods), secretRef (BackendSecurityPolicy), or the collection's pointer.
        assert (
            "secretKeyRef" in trail
            or "secretRef" in trail
            or where.endswith("aiplane.dev/api-key-secret")
        ), f"Secret name {value} outside a reference: {where}"
    assert referenced == SECRET_NAMES - {"secret-qdrant"}  # the annotation holds name/key
    assert any(v == "secret-qdrant/api-key" for _, v in _walk(objects))


def test_vllm_api_key_is_a_secret_key_ref(tmp_path: Path) -> None:
    objects = render_stack(load_and_check(_write(tmp_path, STACK)))
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "secret-vllm-key",
        "key": "token",
    }
    assert "value" not in env["VLLM_API_KEY"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--api-key" not in args


@pytest.mark.parametrize(
    ("where", "replacement"),
    [
        ("HF_TOKEN: {secretRef: {name: secret-hf, key: token}}", f"HF_TOKEN: {CANARY}"),
        ("WANDB_API_KEY: {secretRef: {name: secret-wandb, key: key}}", f"WANDB_API_KEY: {CANARY}"),
    ],
)
def test_a_pasted_credential_is_refused(tmp_path: Path, where: str, replacement: str) -> None:
    with pytest.raises(StackError) as caught:
        render_stack(load_and_check(_write(tmp_path, STACK.replace(where, replacement))))
    messages = [d.format() for d in caught.value.diagnostics]
    assert any("looks like a credential" in m for m in messages)
    assert not any(CANARY in m for m in messages)


def test_api_key_in_extra_args_is_refused(tmp_path: Path) -> None:
    text = STACK.replace(
        'engineVersion: "0.11.0"',
        f'engineVersion: "0.11.0"\n        extraArgs: {{--api-key: {CANARY}}}',
    )
    with pytest.raises(StackError) as caught:
        render_stack(load_and_check(_write(tmp_path, text)))
    assert any("apiKeySecret" in d.format() for d in caught.value.diagnostics)
