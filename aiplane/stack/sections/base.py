"""Shared building blocks of the stack schema: strict camelCase models and small value types."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def check_dns_label(value: str) -> str:
    # Names end up in Kubernetes object names, so they must be DNS-1123 labels.
    if len(value) > 53:
        raise ValueError("must be at most 53 characters (it becomes part of Kubernetes names)")
    if not _DNS_LABEL.match(value):
        raise ValueError(
            "must be lowercase letters, digits and '-', starting and ending with a letter or digit"
        )
    return value


Name = Annotated[str, AfterValidator(check_dns_label)]
"""A stack-level name (pool, model, pipeline, route, collection): a DNS-1123 label."""

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


def _check_quantity(value: str | int | float) -> str:
    text = str(value)
    if not _QUANTITY.match(text):
        raise ValueError("not a Kubernetes quantity (e.g. 500m, 4, 16Gi)")
    return text


Quantity = Annotated[str | int | float, AfterValidator(_check_quantity)]
"""A Kubernetes resource quantity such as ``4``, ``500m`` or ``128Gi``."""

INT32_MAX = 2_147_483_647
"""Kubernetes stores counts (replicas, ports, seconds) as int32; nothing in a stack may exceed it."""

PositiveInt = Annotated[int, Field(gt=0, le=INT32_MAX)]
NonNegativeInt = Annotated[int, Field(ge=0, le=INT32_MAX)]


class StackModel(BaseModel):
    """Base of every stack model: camelCase keys in YAML, unknown keys rejected."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        str_strip_whitespace=False,
        allow_inf_nan=False,
        defer_build=True,
        # Attribute docstrings are field descriptions for the JSON Schema and the reference only;
        # reading them at import parses every class's source (~65 ms of each command), so
        # ``stack.docs.with_attribute_docs`` adds them when a schema is generated.
    )


class SecretRef(StackModel):
    """A reference to a key of a Kubernetes Secret; secret values never live in the stack."""

    name: Name = Field(description="Secret name in the stack's namespace.")
    key: str = Field(min_length=1, description="Key inside the Secret's data.")


class EnvSource(StackModel):
    """An environment value taken from a Secret rather than written in the stack."""

    secret_ref: SecretRef
    """Secret and key holding the value."""


EnvValue = str | int | float | bool | EnvSource
"""A literal environment value, or ``{secretRef: {name, key}}``."""


class ShorthandModel(StackModel):
    """A model that YAML may also spell as a bare string (``mig: auto``, ``resources: auto``).

    Subclasses turn the string into a mapping in a ``mode="before"`` validator (see
    ``shorthand``); this base makes the JSON Schema accept the string too, so editors agree.
    """

    shorthand_schema: ClassVar[dict[str, Any]] = {"type": "string"}
    shorthand_description: ClassVar[str] = ""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        string = {**cls.shorthand_schema, "description": cls.shorthand_description}
        return {"anyOf": [string, dict(schema)]}


def shorthand(field: str, value: Any) -> Any:
    """Let a bare string stand for ``{field: value}`` (``mig: auto``, ``resources: auto``)."""
    if isinstance(value, str):
        return {field: value}
    return value
