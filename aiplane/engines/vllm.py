"""vLLM knowledge: the flags real releases accept, and the checks of a stack's serving settings.

The table ``aiplane/data/vllm_args.json`` is generated from vLLM's own source by
``scripts/gen_vllm_args.py`` (flag, type, first and last examined release that accepts it, and
renames). A flag is accepted on version V when ``first <= V`` and V is not past ``last`` — unless
``last`` is the newest release examined, which leaves it open-ended. A flag past its ``last`` was
removed in the next examined release; if vLLM renamed it, the new name is used and a warning says
so, otherwise it is an error with a "did you mean" hint.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from pydantic.alias_generators import to_camel

from aiplane.errors import Diagnostic, suggest
from aiplane.stack.loader import LoadedStack
from aiplane.stack.models import Model

PORT = 8000

# Stack field → flag, in the order they are emitted after the fixed ones.
FIELD_FLAGS: tuple[tuple[str, str], ...] = (
    ("tensor_parallel_size", "--tensor-parallel-size"),
    ("pipeline_parallel_size", "--pipeline-parallel-size"),
    ("gpu_memory_utilization", "--gpu-memory-utilization"),
    ("max_model_len", "--max-model-len"),
    ("max_num_seqs", "--max-num-seqs"),
    ("max_num_batched_tokens", "--max-num-batched-tokens"),
    ("enable_prefix_caching", "--enable-prefix-caching"),
    ("block_size", "--block-size"),
    ("swap_space_gb", "--swap-space"),
    ("quantization", "--quantization"),
    ("dtype", "--dtype"),
    ("kv_cache_dtype", "--kv-cache-dtype"),
)
# Flags aiplane sets itself; extraArgs may not set them again.
_OWNED = {"--host", "--port", "--served-model-name", "--revision", "--load-format", "--model"}
# Defaults left out of the command line so it stays short (vLLM's defaults are the same).
_SKIP_DEFAULT = {"pipeline_parallel_size": 1, "dtype": "auto", "kv_cache_dtype": "auto"}


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version)[:4])


@dataclass(frozen=True)
class Verdict:
    """What the table says about one flag on one vLLM version."""

    flag: str  # the flag to emit (translated when renamed)
    error: str = ""
    hint: str = ""
    note: str = ""  # a warning: e.g. the flag was translated
    kind: str = "str"
    negatable: bool = False


@dataclass(frozen=True)
class ArgTable:
    releases: tuple[str, ...]
    args: dict[str, dict[str, Any]]
    renames: dict[str, str]

    def _entry(self, flag: str) -> tuple[str, dict[str, Any]] | None:
        if flag in self.args:
            return flag, self.args[flag]
        for name, entry in self.args.items():
            if flag in entry.get("aliases", ()):
                return name, entry
        return None

    def accepts(self, entry: dict[str, Any], version: str) -> bool:
        v = version_key(version)
        if v < version_key(entry["first"]) and entry["first"] != self.releases[0]:
            return False
        return entry["last"] == self.releases[-1] or v <= version_key(entry["last"])

    def accepted(self, version: str) -> list[str]:
        return [f for f, e in self.args.items() if self.accepts(e, version)]

    def _removed_in(self, last: str) -> str:
        later = [r for r in self.releases if version_key(r) > version_key(last)]
        return later[0] if later else last

    def check(self, raw: str, version: str) -> Verdict:
        flag = normalise_flag(raw)
        found = self._entry(flag)
        negated = False
        if found is None and flag.startswith("--no-"):
            found = self._entry("--" + flag.removeprefix("--no-"))
            negated = found is not None
        if found is None:
            hint = suggest(flag, self.accepted(version)) or "see 'vllm serve --help'"
            return Verdict(flag, f"'{raw}' is not a vllm serve flag", hint)
        name, entry = found
        kind, negatable = entry["type"], bool(entry.get("negatable"))
        if negated and not negatable:
            return Verdict(flag, f"'{raw}': {name} cannot be negated on vLLM {version}")
        if self.accepts(entry, version):
            shown = "--no-" + name[2:] if negated else name
            since = entry.get("deprecatedSince")
            note = ""
            if since and version_key(version) >= version_key(since):
                note = f"{name} is deprecated since vLLM {since}"
            return Verdict(shown, note=note, kind=kind, negatable=negatable)
        if version_key(version) < version_key(entry["first"]):
            return Verdict(
                flag, f"{name} needs vLLM {entry['first']} or newer (engineVersion is {version})"
            )
        removed = self._removed_in(entry["last"])
        new = self.renames.get(name)
        if new and new in self.args and self.accepts(self.args[new], version):
            note = f"{name} was renamed to {new} in vLLM {removed}; rendered as {new}"
            return Verdict(
                new,
                note=note,
                kind=self.args[new]["type"],
                negatable=bool(self.args[new].get("negatable")),
            )
        message = f"{name} was removed in vLLM {removed} (last accepted: {entry['last']})"
        hint = suggest(name, [f for f in self.accepted(version) if f != name])
        return Verdict(flag, message, hint or f"drop it, or pin engineVersion to {entry['last']}")


def normalise_flag(raw: str) -> str:
    """vLLM's parser accepts ``_`` for ``-``; a bare name means the long flag."""
    text = raw.strip()
    if not text.startswith("-"):
        text = "--" + text
    return text.replace("_", "-")


@lru_cache(maxsize=1)
def load_table() -> ArgTable:
    text = resources.files("aiplane").joinpath("data", "vllm_args.json").read_text()
    data = json.loads(text)
    return ArgTable(tuple(data["releases"]), data["args"], data.get("renames", {}))


def _value_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def flag_tokens(verdict: Verdict, value: Any) -> list[str]:
    if isinstance(value, bool):
        if value:
            return [verdict.flag]
        return ["--no-" + verdict.flag[2:]] if verdict.negatable else []
    return [verdict.flag, _value_text(value)]


def _type_problem(kind: str, value: Any) -> str:
    if kind == "bool" and not isinstance(value, bool):
        return "expects true or false"
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if kind == "int" and not is_int and not (isinstance(value, str) and value.isdigit()):
        return "expects an integer"
    if kind == "float" and (isinstance(value, bool) or not isinstance(value, int | float)):
        try:
            float(str(value))
        except ValueError:
            return "expects a number"
    return ""


def set_fields(model: Model) -> list[tuple[str, str, Any]]:
    """(stack field, flag, value) for the serving fields that are set."""
    out = []
    for field, flag in FIELD_FLAGS:
        value = getattr(model.serving, field)
        if value is None or _SKIP_DEFAULT.get(field, object()) == value:
            continue
        out.append((field, flag, value))
    return out


def check_vllm_args(loaded: LoadedStack) -> list[Diagnostic]:
    """Every serving field and extraArg of every model, against the model's vLLM version."""
    table = load_table()
    found: list[Diagnostic] = []
    for index, model in enumerate(loaded.stack.spec.models):
        engine = model.serving.engine_version
        base = ("spec", "models", index, "serving")
        found.extend(_coverage(loaded, (*base, "engineVersion"), table, engine))
        for field, flag, _value in set_fields(model):
            found.extend(_diagnose(loaded, (*base, to_camel(field)), table.check(flag, engine)))
        for key, value in sorted(model.serving.extra_args.items()):
            path = (*base, "extraArgs", key)
            verdict = table.check(key, engine)
            normal = normalise_flag(key)
            if normal in _OWNED or normal in {f for _, f in FIELD_FLAGS}:
                found.append(
                    loaded.diagnostic(
                        path,
                        f"{normal} is set by aiplane or a serving field",
                        "use the serving field instead",
                    )
                )
                continue
            if normal == "--api-key":
                found.append(
                    loaded.diagnostic(
                        path,
                        "API keys must not be written in the stack",
                        "use serving.apiKeySecret",
                    )
                )
                continue
            found.extend(_diagnose(loaded, path, verdict))
            problem = "" if verdict.error else _type_problem(verdict.kind, value)
            if problem:
                found.append(loaded.diagnostic(path, f"{verdict.flag} {problem}"))
    return found


def _coverage(
    loaded: LoadedStack, path: tuple[str | int, ...], table: ArgTable, engine: str
) -> list[Diagnostic]:
    """A warning when the engine version is outside the releases the table was built from."""
    oldest, newest = table.releases[0], table.releases[-1]
    if version_key(oldest) <= version_key(engine) <= version_key(newest):
        return []
    side = "older" if version_key(engine) < version_key(oldest) else "newer"
    return [
        loaded.diagnostic(
            path,
            f"vLLM {engine} is {side} than the releases the argument table covers "
            f"({oldest} to {newest}); flags are checked against the nearest one",
            "regenerate aiplane/data/vllm_args.json with scripts/gen_vllm_args.py",
            warning=True,
        )
    ]


def _diagnose(
    loaded: LoadedStack, path: tuple[str | int, ...], verdict: Verdict
) -> list[Diagnostic]:
    if verdict.error:
        return [loaded.diagnostic(path, verdict.error, verdict.hint)]
    if verdict.note:
        return [loaded.diagnostic(path, verdict.note, warning=True)]
    return []
