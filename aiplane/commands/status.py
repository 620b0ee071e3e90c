"""``aiplane status [FILE] [--json] [--watch]``: the live state of a stack's control and data plane.

Exit codes: 0 healthy, 2 unhealthy (something the report lists under problems), 1 error (no
stack, unreachable cluster: one line, no traceback).
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING

from aiplane.status.dataplane import MetricsSource

if TYPE_CHECKING:
    from aiplane.providers.kubernetes.client import KubeClient
    from aiplane.stack.loader import LoadedStack

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 2


def status_main(
    file: str,
    *,
    kubeconfig: str | None,
    context: str | None,
    as_json: bool,
    watch: float | None,
    sample_seconds: float,
    source: MetricsSource | None = None,
) -> int:
    from pathlib import Path

    from aiplane.check import load_and_check
    from aiplane.errors import AiplaneError
    from aiplane.providers.kubernetes.client import KubeClient
    from aiplane.providers.kubernetes.kubeconfig import load_kubeconfig

    if not Path(file).is_file():
        raise AiplaneError(f"status: no stack file {file}")
    loaded = load_and_check(file)
    with KubeClient(load_kubeconfig(kubeconfig, context), retries=1, timeout=10.0) as client:
        while True:
            if watch is not None and not as_json and sys.stdout.isatty():
                sys.stdout.write("\x1b[2J\x1b[H")  # redraw in place, like watch(1)
            code = _once(client, loaded, as_json, sample_seconds, source)
            if watch is None:
                return code
            time.sleep(watch)


def _once(
    client: KubeClient,
    loaded: LoadedStack,
    as_json: bool,
    sample_seconds: float,
    source: MetricsSource | None,
) -> int:
    from aiplane.status.dataplane import proxy_source
    from aiplane.status.report import collect, lines

    report = collect(client, loaded, source or proxy_source(client), sample_seconds)
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        sys.stdout.write("\n".join(lines(report)) + "\n")
    sys.stdout.flush()
    return EXIT_HEALTHY if report["healthy"] else EXIT_UNHEALTHY
