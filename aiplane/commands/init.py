"""``aiplane init``: write the starter stack (``aiplane/data/starter.yaml``, shipped in the wheel)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiplane.errors import AiplaneError

TEMPLATE = "starter.yaml"


def write_starter(file: str, name: str) -> int:
    """Write the starter stack named ``name`` to ``file`` (never over an existing file)."""
    from aiplane.stack.sections.base import check_dns_label

    target = Path(file)
    if target.exists():
        raise AiplaneError(f"{file}: already exists; not overwriting it")
    try:
        check_dns_label(name)
    except ValueError as exc:
        raise AiplaneError(f"--name {name}: {exc}") from None
    target.write_text(_template().replace("NAME", name), encoding="utf-8")
    print(f"{file}: written; next: aiplane validate {file}")
    return 0


def _template() -> str:
    return resources.files("aiplane").joinpath("data", TEMPLATE).read_text(encoding="utf-8")
