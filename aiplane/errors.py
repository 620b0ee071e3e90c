"""Diagnostics: the one shape every user-facing error takes.

Every problem aiplane reports is a ``Diagnostic``: where it is (file, line, column), which part of
the stack it concerns (a dotted path such as ``spec.models[0].name``), what is wrong and, when we
can tell, a hint. Commands collect all diagnostics of a run and print them together.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

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


# -- credentials in text ------------------------------------------------------------------------
# Recognised twice: the stack checks refuse such literals (a stack lives in Git), and every
# diagnostic goes through ``redact`` when formatted, so no message, hint or path can carry a
# pasted secret into a CI log, whichever check produced it.

REDACTED: Final = "<redacted>"

# (what it is, pattern, needs mixed case). Real keys of these kinds are random mixed-case text;
# requiring that keeps lowercase names such as "sk-learn-classifier-for-tickets" valid.
_TOKENS: Final[tuple[tuple[str, re.Pattern[str], bool], ...]] = (
    ("a Hugging Face token", re.compile(r"hf_[A-Za-z0-9]{30,}"), True),
    ("an OpenAI or Anthropic API key", re.compile(r"sk-[A-Za-z0-9_-]{20,}"), True),
    (
        "a GitHub token",
        re.compile(r"(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
        True,
    ),
    ("a GitLab token", re.compile(r"glpat-[A-Za-z0-9_-]{20,}"), True),
    ("an AWS access key id", re.compile(r"(AKIA|ASIA)[0-9A-Z]{16}"), False),
    ("a Google API key", re.compile(r"AIza[0-9A-Za-z_-]{35}"), False),
    ("a Slack token", re.compile(r"xox[abposr]-[0-9]+-[A-Za-z0-9-]{8,}"), False),
    (
        "a JSON Web Token",
        re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"),
        False,
    ),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), False),
)
_BOUNDARY: Final = r"(?<![A-Za-z0-9])"
# user:password@ in any URL; a bare user@ only for schemes where it is a credential (it is an
# alias in mlflow://name@alias).
_URL_PASSWORD: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s:]*:[^/@\s]*@")
_URL_USER: Final = re.compile(
    r"((?:https?|wss?|postgres(?:ql)?|mysql|redis|rediss|mongodb(?:\+srv)?|amqps?)://)[^/@\s]+@"
)


def _mixed(text: str) -> bool:
    return (
        any(c.isupper() for c in text)
        and any(c.islower() for c in text)
        and any(c.isdigit() for c in text)
    )


def _token_matches(text: str) -> list[tuple[str, re.Match[str]]]:
    found = []
    for what, pattern, needs_mixed in _TOKENS:
        for match in re.finditer(_BOUNDARY + pattern.pattern, text):
            if not needs_mixed or _mixed(match.group(0)):
                found.append((what, match))
    return found


def credential_in(text: str) -> str | None:
    """What kind of credential ``text`` contains ("a GitHub token", "a password in a URL"), or
    ``None``. Never returns the credential itself."""
    if _URL_PASSWORD.search(text) or _URL_USER.search(text):
        return "credentials in a URL"
    matches = _token_matches(text)
    return matches[0][0] if matches else None


def _replacer(needs_mixed: bool) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        keep = needs_mixed and not _mixed(match.group(0))
        return match.group(0) if keep else REDACTED

    return replace


def redact(text: str) -> str:
    """``text`` with every credential it contains replaced by ``<redacted>``."""
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + "@", text)
    text = _URL_USER.sub(lambda m: m.group(1) + REDACTED + "@", text)
    for _what, pattern, needs_mixed in _TOKENS:
        text = re.sub(_BOUNDARY + pattern.pattern, _replacer(needs_mixed), text)
    return text
