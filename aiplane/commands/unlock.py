"""``aiplane force-unlock``: break the stack's lock, only when the named holder still holds it."""

from __future__ import annotations

from rich.console import Console

from aiplane.commands.cluster import EXIT_OK, REQUEST_TIMEOUT, connect, print_error, stack_lock
from aiplane.commands.settings import Settings
from aiplane.commands.stackfile import stack_name
from aiplane.errors import AiplaneError
from aiplane.providers.kubernetes.lock import default_holder
from aiplane.secrets import Scrubber


def unlock_main(
    file: str,
    holder: str,
    *,
    kubeconfig: str | None,
    context: str | None,
    request_timeout: float = REQUEST_TIMEOUT,
) -> int:
    """``aiplane force-unlock``: break the stack's lock when the run holding it is gone."""
    err = Console(stderr=True, highlight=False)
    scrub = Scrubber()
    try:
        stack = stack_name(file)
        with connect(kubeconfig, context, request_timeout) as client:
            conf = Settings.from_env()
            lock = stack_lock(client, stack, default_holder(), "force-unlock", 0, err, conf)
            lock.force_release(holder)
            print(f"{lock.subject}: lock of {holder} released")
        return EXIT_OK
    except AiplaneError as exc:
        return print_error(err, scrub, exc)
