"""Field descriptions from attribute docstrings, added only when a schema or reference is built.

pydantic's ``use_attribute_docstrings`` reads the source of every model class at import (an
``inspect`` + ``ast`` pass per class), which was the largest single cost of ``aiplane validate``.
Validation never needs the descriptions, so the models are built without them and this module
fills them in (then rebuilds the models' schemas, leaves first) for ``aiplane schema`` and the
generated reference.
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel
from pydantic._internal._docs_extraction import extract_docstrings_from_cls

_done: set[type[BaseModel]] = set()


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _leaves_first(root: type[BaseModel]) -> list[type[BaseModel]]:
    order: list[type[BaseModel]] = []
    seen: set[type[BaseModel]] = set()

    def visit(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for info in model.model_fields.values():
            for inner in _models_in(info.annotation):
                visit(inner)
        order.append(model)

    visit(root)
    return order


def with_attribute_docs(root: type[BaseModel]) -> type[BaseModel]:
    """Give every field of ``root`` and the models it uses its attribute docstring as description
    (where it has none), then rebuild their schemas; returns ``root``. Idempotent."""
    for model in _leaves_first(root):
        if model in _done:
            continue
        docs: dict[str, str] = {}
        for klass in reversed(model.__mro__):  # inherited fields keep their base's docstring
            if isinstance(klass, type) and issubclass(klass, BaseModel) and klass is not BaseModel:
                docs.update(extract_docstrings_from_cls(klass, use_inspect=True))
        for name, info in model.model_fields.items():
            if info.description is None and name in docs:
                info.description = docs[name]
        # every model is rebuilt (leaves first): a parent embeds its children's schemas
        model.model_rebuild(force=True)
        _done.add(model)
    return root
