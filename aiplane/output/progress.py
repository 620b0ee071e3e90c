"""apply's progress: a live status line on a terminal, plain lines in CI logs.

Stage lines (``stage workloads: applying 12 object(s)``) are always printed. Health-wait lines
(``Deployment/ai/llama: waiting: 0/2 ready``) name what is awaited and since when; on a terminal
they replace each other in one status line, off a terminal a repeated one is printed at most every
``every`` seconds (a health wait polls twice a second).
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from rich.console import Console

WAITING = ": waiting: "


class Progress:
    """A ``say(message)`` callback for the applier; use as a context manager."""

    def __init__(self, console: Console, every: float = 10.0) -> None:
        self.console = console
        self.every = every
        self._status: Any = None
        self._last_text = ""
        self._last_at = 0.0
        self._since: dict[str, float] = {}

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the live status line (if any)."""
        if self._status is not None:
            self._status.stop()
            self._status = None

    def __call__(self, message: str) -> None:
        now = time.monotonic()
        subject, waiting, _ = message.partition(WAITING)
        if not waiting:
            self.close()
            self.console.print(message, highlight=False, markup=False)
            return
        since = self._since.setdefault(subject, now)
        text = f"{message} (since {now - since:.0f} s)"
        if self.console.is_terminal:
            if self._status is None:
                self._status = self.console.status(text)
                self._status.start()
            else:
                self._status.update(text)
            return
        if message == self._last_text and now - self._last_at < self.every:
            return
        self._last_text, self._last_at = message, now
        self.console.print(text, highlight=False, markup=False)
