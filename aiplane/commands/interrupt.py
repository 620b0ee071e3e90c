"""SIGINT/SIGTERM during apply: finish the requests in flight, stop, report, release the lock.

A cancelled CI job sends SIGTERM and, a few seconds later, SIGKILL. Dying at once would leave the
stack lock held and no record of what was written; so the first signal only raises a flag, which
the apply checks before each request and on each health poll. The apply then raises
``Interrupted`` with its report, the command releases the lock and exits 128 + the signal number
(130 for SIGINT, 143 for SIGTERM). A second signal stops at once.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

from aiplane.errors import AiplaneError

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(AiplaneError):
    """The run was asked to stop; ``report`` (when set) says what was and was not applied."""

    def __init__(self, signum: int, report: Any = None) -> None:
        name = signal.Signals(signum).name
        super().__init__(f"apply: stopped by {name} after the requests in flight")
        self.signum = signum
        self.report = report

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopSignal:
    """A context manager that turns the first SIGINT/SIGTERM into a flag."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum = 0
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in HANDLED:
                self._old[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():  # the second one: the user means it
            raise KeyboardInterrupt
        self.signum = signum
        self.event.set()

    @property
    def requested(self) -> bool:
        """True once a stop was asked for."""
        return self.event.is_set()

    def check(self, report: Any = None) -> None:
        """Raise ``Interrupted`` when a stop was asked for."""
        if self.event.is_set():
            raise Interrupted(self.signum, report)
