"""The stack's JSON Schema, generated from the pydantic models (never written by hand)."""

from __future__ import annotations

import json
from typing import Any

SCHEMA_ID = "https://aiplane.dev/schemas/stack.schema.json"


def stack_json_schema() -> dict[str, Any]:
    from aiplane.stack.docs import with_attribute_docs
    from aiplane.stack.models import Stack

    schema = with_attribute_docs(Stack).model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def stack_json_schema_text() -> str:
    """Stable text: sorted keys, two-space indent, trailing newline (the committed file's form)."""
    return json.dumps(stack_json_schema(), indent=2, sort_keys=True) + "\n"
