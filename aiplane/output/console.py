"""Rich consoles that behave in CI logs: no wrapping and no colour off a terminal.

Rich wraps at 80 columns when stdout is not a terminal, which cuts error lines in CI logs;
``soft_wrap`` leaves long lines whole there (a terminal still wraps to its width). Colour follows
``NO_COLOR`` (which ``--no-color`` sets) and is off when the stream is not a terminal.
"""

from __future__ import annotations

from rich.console import Console


def console(*, stderr: bool = False) -> Console:
    """A console for stdout (or stderr) that never wraps lines off a terminal."""
    out = Console(stderr=stderr, highlight=False)
    if not out.is_terminal:
        out.soft_wrap = True
    return out
