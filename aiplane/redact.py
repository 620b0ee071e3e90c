"""Recognise credentials in text: token-shaped literals and passwords inside URLs.

Used twice: the stack checks refuse such literals (a stack lives in Git), and every diagnostic
is passed through ``redact`` before it is printed, so that no message, hint or path can carry a
pasted secret into a CI log, whichever check produced it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

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
