"""Diagnostics: the one shape every user-facing error takes.

Every problem aiplane reports is a ``Diagnostic``: where it is (file, line, column), which part of
the stack it concerns (a dotted path such as ``spec.models[0].name``), what is wrong and, when we
can tell, a hint. Commands collect all diagnostics of a run and print them together.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a stack file, located as precisely as we can."""

    message: str
    file: str = "<stack>"
    line: int = 0
    column: int = 0
    path: str = ""
    hint: str = ""
    severity: Severity = "error"

    def format(self) -> str:
        """Render as ``FILE:LINE:COL: path: message (hint)``, the form editors and CI parse.

        Credentials are redacted from the whole line, whatever check wrote it."""
        from aiplane.redact import redact

        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        subject = f"{self.path}: " if self.path else ""
        prefix = "warning: " if self.severity == "warning" else ""
        text = f"{where}: {prefix}{subject}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return redact(text)


class AiplaneError(Exception):
    """An expected failure that the CLI prints cleanly and turns into exit code 1."""

    def __init__(self, message: str, diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__(message)
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)


class StackError(AiplaneError):
    """The stack file is invalid; ``diagnostics`` holds every problem found."""


def suggest(word: str, choices: Iterable[str]) -> str:
    """Return a "did you mean X?" hint for a misspelt name, or "" when nothing is close."""
    options = sorted({c for c in choices if isinstance(c, str)})
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in options}
        close = [lowered[word.lower()]] if word.lower() in lowered else []
    return f"did you mean '{close[0]}'?" if close else ""
