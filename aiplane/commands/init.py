"""``aiplane init``: write the starter stack from ``templates/starter.yaml``."""

from __future__ import annotations

from pathlib import Path

from aiplane.errors import AiplaneError

TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "starter.yaml"


def write_starter(file: str, name: str) -> int:
    from aiplane.stack.sections.base import _check_dns_label

    target = Path(file)
    if target.exists():
        raise AiplaneError(f"{file}: already exists; not overwriting it")
    try:
        _check_dns_label(name)
    except ValueError as exc:
        raise AiplaneError(f"--name {name}: {exc}") from None
    target.write_text(TEMPLATE.read_text(encoding="utf-8").replace("NAME", name), encoding="utf-8")
    print(f"{file}: written; next: aiplane validate {file}")
    return 0
