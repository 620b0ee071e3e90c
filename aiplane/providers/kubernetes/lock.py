"""A per-stack lock kept in the cluster as a ``coordination.k8s.io/v1`` Lease.

The Lease ``aiplane-lock-<stack>`` records the holder, the purpose (annotation) and a TTL
(``leaseDurationSeconds`` from ``renewTime``). An expired lease is taken over with a message; a held
one is waited for up to a timeout, then the caller fails with who holds it and until when. All
writes use optimistic concurrency (resourceVersion), so two takers cannot both win.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiplane.errors import AiplaneError
from aiplane.providers.kubernetes.client import ApiError, KubeClient
from aiplane.providers.kubernetes.labels import LOCK_PURPOSE_ANN, MANAGED_BY, STACK_LABEL

PURPOSE_ANN = LOCK_PURPOSE_ANN
_API = "coordination.k8s.io/v1"


class LockHeld(AiplaneError):
    """Another run holds the stack's lock."""


def default_holder() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}:{os.getpid()}"


def _holder_gone(holder: str) -> bool:
    """True when ``holder`` names a process on this host that no longer runs."""
    head, _, rest = holder.partition(" ")
    if rest:  # "... plan <id>": a saved plan holds the lock after its process ended
        return False
    where, _, pid = head.rpartition(":")
    if not pid.isdigit() or where.rpartition("@")[2] != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _micro(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(ts: str | None) -> float:
    if not ts:
        return 0.0
    text = ts.replace("Z", "+00:00")
    return datetime.fromisoformat(text).timestamp()


@dataclass
class StackLock:
    """The lock of one stack; ``acquire`` then ``release`` (or use ``held``)."""

    client: KubeClient
    stack: str
    namespace: str
    holder: str
    purpose: str
    ttl: int = 600
    say: Callable[[str], None] = print

    @property
    def name(self) -> str:
        return f"aiplane-lock-{self.stack}"

    @property
    def subject(self) -> str:
        return f"Lease/{self.namespace}/{self.name}"

    def _body(self, rv: str | None, acquired: float | None = None) -> dict[str, Any]:
        now = time.time()
        meta: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "annotations": {PURPOSE_ANN: self.purpose},
            "labels": {MANAGED_BY: "aiplane", STACK_LABEL: self.stack},
        }
        if rv:
            meta["resourceVersion"] = rv
        spec = {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.ttl,
            "acquireTime": _micro(acquired or now),
            "renewTime": _micro(now),
        }
        return {"apiVersion": _API, "kind": "Lease", "metadata": meta, "spec": spec}

    def acquire(self, timeout: float, *, take_from: str | None = None) -> None:
        """Take the lease, waiting up to ``timeout`` s; ``take_from`` names a holder to succeed."""
        deadline = time.monotonic() + timeout
        announced = False
        while True:
            held = self._try(take_from)
            if held is None:
                return
            if time.monotonic() >= deadline:
                raise LockHeld(
                    f"{self.subject}: {held}; gave up after waiting {timeout:.0f} s "
                    "(if that run is dead: aiplane force-unlock STACK HOLDER)"
                )
            if not announced:
                self.say(f"{self.subject}: {held}; waiting up to {timeout:.0f} s")
                announced = True
            time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))

    def _try(self, take_from: str | None) -> str | None:
        """One attempt: None when we now hold it, else a description of the holder."""
        live = self.client.get(_API, "Lease", self.name, self.namespace)
        try:
            if live is None:
                self.client.create(self._body(None))
                return None
            spec = live.get("spec") or {}
            holder = spec.get("holderIdentity") or ""
            rv = live["metadata"]["resourceVersion"]
            expires = _parse(spec.get("renewTime")) + float(spec.get("leaseDurationSeconds") or 0)
            if holder in ("", self.holder) or (take_from and holder == take_from):
                self.client.replace(self._body(rv))
                return None
            gone = _holder_gone(holder)
            if expires < time.time() or gone:
                why = "its process is gone" if gone else "it expired"
                self.say(f"{self.subject}: lock of {holder}: {why}; taking it over")
                self.client.replace(self._body(rv))
                return None
        except ApiError as exc:
            if exc.status == 409:
                return "taken by another run a moment ago"
            raise
        purpose = ((live.get("metadata") or {}).get("annotations") or {}).get(PURPOSE_ANN, "")
        left = max(0, int(expires - time.time()))
        note = (
            "; a saved plan holds the lock until it is applied or expires"
            if " plan " in holder
            else ""
        )
        return f"held by {holder} ({purpose or 'no purpose recorded'}), expires in {left} s{note}"

    def holder_now(self) -> str | None:
        """Who holds the lock now (None when free, expired or gone); reads, never writes."""
        live = self.client.get(_API, "Lease", self.name, self.namespace)
        if live is None:
            return None
        spec = live.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        expires = _parse(spec.get("renewTime")) + float(spec.get("leaseDurationSeconds") or 0)
        if not holder or expires < time.time() or _holder_gone(holder):
            return None
        purpose = ((live.get("metadata") or {}).get("annotations") or {}).get(PURPOSE_ANN, "")
        return f"{holder} ({purpose or 'no purpose recorded'})"

    def renew(self) -> None:
        live = self.client.get(_API, "Lease", self.name, self.namespace)
        if live and (live.get("spec") or {}).get("holderIdentity") == self.holder:
            acquired = _parse((live.get("spec") or {}).get("acquireTime")) or None
            self.client.replace(self._body(live["metadata"]["resourceVersion"], acquired))

    def release(self) -> None:
        """Delete the lease if we still hold it (best effort)."""
        try:
            live = self.client.get(_API, "Lease", self.name, self.namespace)
            if live and (live.get("spec") or {}).get("holderIdentity") == self.holder:
                uid = live["metadata"].get("uid")
                self.client.delete(_API, "Lease", self.name, self.namespace, uid=uid)
        except AiplaneError:
            pass

    def force_release(self, holder: str) -> None:
        """Delete the lease that ``holder`` holds, alive or not (``aiplane force-unlock``).

        Naming the holder, as Terraform's force-unlock names the lock ID, makes sure the lock that
        is broken is the one the user looked at, not one a new run took a moment ago.
        """
        live = self.client.get(_API, "Lease", self.name, self.namespace)
        if live is None:
            raise AiplaneError(f"{self.subject}: not locked; nothing to release")
        current = (live.get("spec") or {}).get("holderIdentity") or ""
        if current != holder:
            raise AiplaneError(
                f"{self.subject}: held by {current or 'nobody'}, not {holder}; nothing released"
            )
        uid = live["metadata"].get("uid")
        self.client.delete(_API, "Lease", self.name, self.namespace, uid=uid)

    def keep_alive(self) -> Callable[[], None]:
        """Renew every ttl/3 s in the background; returns a function that stops renewing."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(self.ttl / 3):
                with contextlib.suppress(AiplaneError):
                    self.renew()

        threading.Thread(target=loop, name="aiplane-lease", daemon=True).start()
        return stop.set
