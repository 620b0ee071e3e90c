"""The layering holds one way: every module imports, and no import (top level, inside a function
or under TYPE_CHECKING) reaches a layer it must not.

Layers, lowest first: errors; stack (models, loader, stack-only checks); engines, gpu and gateway
(what each AI gateway target enforces) above stack; check (composes stack, gpu, engine and
gateway checks); registry (resolves references before render: data sources and the lock); plan
(provider-neutral core) and secrets;
providers (backends; Kubernetes' label contract and kind table are what render may use); render;
output; commands (print, prompt, exit codes); cli (argparse wiring).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import aiplane

ROOT = Path(aiplane.__file__).parent
KUBE = "aiplane.providers.kubernetes"
# module prefix -> the aiplane prefixes it may import (itself always)
ALLOWED: dict[str, tuple[str, ...]] = {
    "aiplane.errors": (),
    "aiplane.secrets": ("aiplane.errors",),
    "aiplane.stack": ("aiplane.errors",),
    "aiplane.engines": ("aiplane.errors", "aiplane.stack"),
    "aiplane.gpu": ("aiplane.errors", "aiplane.stack"),
    "aiplane.gateway": ("aiplane.errors", "aiplane.stack"),
    "aiplane.check": ("aiplane.errors", "aiplane.stack", "aiplane.gpu", "aiplane.engines",
                      "aiplane.gateway"),
    "aiplane.plan": ("aiplane.errors", "aiplane.gpu.capacity", "aiplane.secrets",
                     "aiplane.providers.base"),
    "aiplane.providers": ("aiplane.errors", "aiplane.plan", "aiplane.secrets",
                          "aiplane.gpu.capacity"),
    # The resolve step (registry data sources and the lock): between check and render.
    "aiplane.registry": ("aiplane.errors", "aiplane.stack", "aiplane.check", "aiplane.plan",
                         "aiplane.providers", "aiplane.secrets"),
    "aiplane.render": ("aiplane.errors", "aiplane.stack", "aiplane.gpu", "aiplane.engines",
                       "aiplane.gateway",
                       "aiplane.providers.base", "aiplane.plan.address", f"{KUBE}.labels",
                       f"{KUBE}.kind_table",
                       # the shared-document format (render combines stacks' copies with it)
                       f"{KUBE}.objects", f"{KUBE}.shared_doc"),
    "aiplane.output": ("aiplane.errors", "aiplane.plan", "aiplane.gpu", "aiplane.secrets",
                       f"{KUBE}.objects", f"{KUBE}.diff", f"{KUBE}.labels"),
    "aiplane.gitops": ("aiplane.errors", "aiplane.check", "aiplane.render", f"{KUBE}.shared_doc",
                       f"{KUBE}.applyset", f"{KUBE}.desired", f"{KUBE}.kinds", f"{KUBE}.labels",
                       f"{KUBE}.objects", f"{KUBE}.offline", f"{KUBE}.ownership"),
    "aiplane.commands": ("aiplane",),
    "aiplane.cli": ("aiplane.errors", "aiplane.commands", "aiplane.stack.jsonschema"),
    "aiplane.__main__": ("aiplane.cli",),
    "aiplane": (),  # the package root: __version__ only
}  # fmt: skip
# The provider-neutral core must not know any provider; only the engine sees the protocol.
CORE_ONLY_ENGINE = {"aiplane.providers.base": ("aiplane.plan.engine",)}


def modules() -> list[str]:
    names = ["aiplane"]
    for info in pkgutil.walk_packages([str(ROOT)], "aiplane."):
        names.append(info.name)
    return sorted(names)


def rule_for(module: str) -> tuple[str, tuple[str, ...]]:
    best = max((p for p in ALLOWED if module == p or module.startswith(p + ".")), key=len)
    return best, ALLOWED[best]


def imports_of(module: str) -> list[tuple[int, str]]:
    """Every aiplane module ``module`` imports, anywhere in its source, with the line."""
    path = ROOT.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = ROOT.parent / module.replace(".", "/") / "__init__.py"
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found += [(node.lineno, f"{base}.{a.name}" if base else a.name) for a in node.names]
    return [
        (line, name) for line, name in found if name == "aiplane" or name.startswith("aiplane.")
    ]


def _allowed(target: str, own: str, allowed: tuple[str, ...]) -> bool:
    if target == "aiplane.__version__" or target.startswith(own + ".") or target == own:
        return True
    return any(target == a or target.startswith(a + ".") for a in allowed)


@pytest.mark.parametrize("module", modules())
def test_module_imports_and_respects_its_layer(module: str) -> None:
    if module != "aiplane.__main__":  # running it would start the CLI
        importlib.import_module(module)
    own, allowed = rule_for(module)
    bad = [
        f"{module}:{line} imports {target}"
        for line, target in imports_of(module)
        if not _allowed(target, own, allowed)
    ]
    for target, importers in CORE_ONLY_ENGINE.items():
        if module.startswith("aiplane.plan"):
            bad += [
                f"{module}:{line} imports {t} (only {', '.join(importers)} may)"
                for line, t in imports_of(module)
                if t.startswith(target) and module not in importers
            ]
    assert not bad, "layering broken:\n" + "\n".join(bad)


def test_the_rules_catch_a_bad_import() -> None:
    """The checker itself can fail: a stack module importing render is refused."""
    own, allowed = rule_for("aiplane.stack.loader")
    assert not _allowed("aiplane.render.vllm", own, allowed)
    assert not _allowed("aiplane.providers.kubernetes.client", *rule_for("aiplane.render.vllm"))
    assert not _allowed("aiplane.providers.kubernetes.client", *rule_for("aiplane.plan.model"))
    assert not _allowed("aiplane.commands.plan", *rule_for("aiplane.providers.kubernetes.client"))
    assert _allowed("aiplane.errors", own, allowed)


def test_every_module_is_covered_by_a_rule() -> None:
    assert all(rule_for(m) for m in modules())
