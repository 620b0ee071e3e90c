"""Secrets stay out of the stack: credential-looking literals must be Secret references.

A stack file lives in Git and its rendered output in CI logs and PR comments; a literal API key
there is a leak, so we refuse it before anything is rendered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiplane.errors import Diagnostic
from aiplane.stack.loader import LoadedStack
from aiplane.stack.yamlpos import Path

_CREDENTIAL_NAME = re.compile(r"(KEY|TOKEN|PASSWORD|PASSWD|SECRET|CREDENTIAL)", re.IGNORECASE)
_CREDENTIAL_FLAG = re.compile(r"^--?(api-key|hf-token|token)$")


def check_secrets(loaded: LoadedStack) -> list[Diagnostic]:
    spec = loaded.stack.spec
    found: list[Diagnostic] = []
    for index, model in enumerate(spec.models):
        found += _check_env(loaded, ("spec", "models", index, "env"), model.env)
        found += _check_env(loaded, ("spec", "models", index, "serving", "env"), model.serving.env)
        for flag in model.serving.extra_args:
            if _CREDENTIAL_FLAG.match(flag):
                found.append(
                    loaded.diagnostic(
                        ("spec", "models", index, "serving", "extraArgs", flag),
                        f"{flag} would put a credential in the manifest",
                        "use serving.apiKeySecret",
                    )
                )
    for p_index, pipeline in enumerate(spec.pipelines):
        for s_index, step in enumerate(pipeline.steps):
            found += _check_env(
                loaded, ("spec", "pipelines", p_index, "steps", s_index, "env"), step.env
            )
    return found


def _check_env(loaded: LoadedStack, path: Path, env: Mapping[str, Any]) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for name, value in env.items():
        if isinstance(value, str | int | float) and _CREDENTIAL_NAME.search(name):
            # Say which variable, never echo the value: this message itself lands in CI logs.
            found.append(
                loaded.diagnostic(
                    (*path, name),
                    f"{name} looks like a credential but is a literal value",
                    f"use {name}: {{secretRef: {{name: <secret>, key: <key>}}}}",
                )
            )
    return found
