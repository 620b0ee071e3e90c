"""Every ``AIPLANE_*`` setting, read in one place when a command starts.

Lower layers never read the environment: a command reads ``Settings`` once and passes values on
(providers get them through ``ProviderContext.options``).

============================  =========  ====================================================
variable                      default    meaning
============================  =========  ====================================================
``AIPLANE_SYSTEM_NAMESPACE``  aiplane-   where ApplySet parents (the stacks' state) and locks
                              system     live
``AIPLANE_PLAN_LOCK_TTL``     900        seconds a saved plan (``plan --out``) holds the lock
``AIPLANE_LOCK_TIMEOUT``      30         seconds ``plan --out`` waits for the lock
``AIPLANE_HEALTH_TIMEOUT``    0          caps every per-kind health timeout (0: no cap)
``AIPLANE_NO_WAIT``           unset      ``1``/``true``/``yes``: skip health waits after apply
============================  =========  ====================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from aiplane.errors import AiplaneError


@dataclass(frozen=True)
class Settings:
    """The settings of one command."""

    system_namespace: str = "aiplane-system"
    plan_lock_ttl: int = 900
    lock_timeout: float = 30.0
    health_timeout: float = 0.0
    wait: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``env`` (default: the process environment); a malformed
        number is an error that names the variable."""
        env = os.environ if env is None else env
        return cls(
            system_namespace=env.get("AIPLANE_SYSTEM_NAMESPACE") or cls.system_namespace,
            plan_lock_ttl=int(_number(env, "AIPLANE_PLAN_LOCK_TTL", cls.plan_lock_ttl)),
            lock_timeout=_number(env, "AIPLANE_LOCK_TIMEOUT", cls.lock_timeout),
            health_timeout=_number(env, "AIPLANE_HEALTH_TIMEOUT", cls.health_timeout),
            wait=env.get("AIPLANE_NO_WAIT", "") not in ("1", "true", "yes"),
        )


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise AiplaneError(f"{name}: '{raw}' is not a number of seconds") from None
