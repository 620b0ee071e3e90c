"""Load a stack file: bytes -> positioned YAML -> validated ``Stack``, every error located."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path as FsPath

from pydantic import ValidationError

from aiplane.errors import Diagnostic, StackError
from aiplane.stack.explain_errors import diagnostics_from
from aiplane.stack.implicit_types import implicit_scalar_problems, merge_diagnostics
from aiplane.stack.literal_secrets import literal_secret_problems
from aiplane.stack.models import Stack
from aiplane.stack.yamlpos import Path, PositionMap, YamlProblem, parse_yaml


@dataclass(frozen=True)
class LoadedStack:
    """A validated stack together with the file it came from and where each part of it is."""

    stack: Stack
    path: str
    positions: PositionMap
    warnings: tuple[Diagnostic, ...] = ()
    checked: bool = False
    """True when every check ran (``aiplane.check.load_and_check``), so later steps need not."""

    def locate(self, path: Path) -> tuple[int, int]:
        return self.positions.locate(path)

    def source_ref(self, path: Path) -> str:
        """``stacks/seed.yaml#L42``: how rendered objects and plan lines point back here."""
        return f"{self.path}#L{self.locate(path)[0]}"

    def diagnostic(
        self, path: Path, message: str, hint: str = "", *, warning: bool = False
    ) -> Diagnostic:
        from aiplane.stack.yamlpos import dotted

        line, col = self.locate(path)
        return Diagnostic(
            message, self.path, line, col, dotted(path), hint, "warning" if warning else "error"
        )


def parse_stack(raw: bytes, file: str) -> LoadedStack:
    """Validate raw bytes as a stack; raise ``StackError`` with every problem found."""
    try:
        data, positions = parse_yaml(raw, file)
    except YamlProblem as problem:
        raise StackError(f"{file}: cannot be read", [problem.diagnostic]) from None
    # Problems the schema cannot see: how YAML typed a scalar, and credentials in any string.
    early = implicit_scalar_problems(Stack, positions, file)
    early += literal_secret_problems(data, positions, file)
    try:
        stack = Stack.model_validate(data)
    except ValidationError as exc:
        found = merge_diagnostics(early, diagnostics_from(exc, Stack, data, positions, file))
        raise StackError(f"{file}: {len(found)} error(s)", found) from None
    if early:
        raise StackError(f"{file}: {len(early)} error(s)", sorted(early, key=_file_order))
    return LoadedStack(stack, file, positions)


def _file_order(diagnostic: Diagnostic) -> tuple[int, int, str]:
    return diagnostic.line, diagnostic.column, diagnostic.path


def load_stack(path: str) -> LoadedStack:
    """Read and validate the stack file at ``path`` (schema only; ``aiplane.check`` checks)."""
    try:
        raw = FsPath(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise StackError(
            f"{path}: {reason}", [Diagnostic(f"cannot read file: {reason}", path)]
        ) from None
    return parse_stack(raw, path)
