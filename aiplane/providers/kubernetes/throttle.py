"""Adaptive request concurrency that follows the API server's priority-and-fairness signals.

An API server under API Priority and Fairness (APF) answers ``429 Too Many Requests`` with a
``Retry-After`` header when this client's flow has no seat and its queue is full. Retrying at once,
16 requests wide, only fills the queue again. ``Throttle`` is the client's answer, AIMD style:

* a 429 halves the number of requests allowed in flight (once per overload episode, not once per
  rejected request) and holds every new request until ``Retry-After`` has passed;
* each success grows the limit by ``1/limit``, so a full window of successes adds one seat, back
  up to the ceiling (the client's ``concurrency``).

The thread pool that runs requests stays as wide as the ceiling; the throttle decides how many of
them may be on the wire.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

MAX_PAUSE_S = 30.0
"""A Retry-After longer than this is capped (a broken header must not stall an apply)."""


def retry_after_s(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), capped at
    ``MAX_PAUSE_S``; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_PAUSE_S)


class Throttle:
    """Bounds requests in flight; halves on overload (429), grows back one seat per window."""

    def __init__(self, ceiling: int, *, floor: int = 1) -> None:
        self.ceiling = max(ceiling, 1)
        self.floor = min(max(floor, 1), self.ceiling)
        self._limit = float(self.ceiling)
        self._in_flight = 0
        self._paused_until = 0.0
        self._cond = threading.Condition()
        self.overloads = 0  # 429s seen (for tests and benchmarks)
        self.lowest = self.ceiling  # the smallest limit reached

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        return int(self._limit)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one request seat: waits while the limit is reached or a Retry-After runs."""
        with self._cond:
            while True:
                wait = self._paused_until - time.monotonic()
                if wait <= 0 and self._in_flight < int(self._limit):
                    break
                self._cond.wait(wait if wait > 0 else None)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify()

    def succeeded(self) -> None:
        """One request was served: additive increase."""
        with self._cond:
            if self._limit < self.ceiling:
                grown = int(self._limit + 1 / self._limit) > int(self._limit)
                self._limit = min(self.ceiling, self._limit + 1 / self._limit)
                if grown:
                    self._cond.notify()

    def overloaded(self, pause_s: float) -> None:
        """The server refused a request (429): halve the limit, unless this episode already did,
        and hold new requests for ``pause_s``."""
        with self._cond:
            self.overloads += 1
            now = time.monotonic()
            if now >= self._paused_until:  # a new episode: requests already in flight don't count
                self._limit = max(float(self.floor), self._limit / 2)
                self.lowest = min(self.lowest, int(self._limit))
            self._paused_until = max(self._paused_until, now + pause_s)
            self._cond.notify_all()
