"""JSON Schemas of procedure types, as the wire carries them.

pydantic's generator, with three changes for a client's point of view: in
serialization mode every field the serializer always writes is required (a
default only matters to the sender); a datetime stays a ``date-time`` string
even when a custom serializer formats it (it is still a time, and superjson
sends it as a ``Date``); bytes are refused (the JSON is an encoding detail, not
a type a TypeScript client can use) with the marker :data:`UNSUPPORTED`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Literal, TypeVar

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

__all__ = ["UNSUPPORTED", "JsonSchema", "Mode", "wire_schemas"]

JsonSchema = dict[str, Any]
Mode = Literal["validation", "serialization"]
K = TypeVar("K", bound=Hashable)

UNSUPPORTED = "x-wirechat-unsupported"
"""Key of the schema that replaces a type no client can be given (its value names it)."""

REF_PREFIX = "#/$defs/"


class _WireSchema(GenerateJsonSchema):
    def generate_inner(self, schema: Any) -> JsonSchemaValue:
        if (
            self.mode == "serialization"
            and schema.get("type") == "datetime"
            and "serialization" in schema
        ):
            schema = {key: value for key, value in schema.items() if key != "serialization"}
        return super().generate_inner(schema)

    def bytes_schema(self, schema: core_schema.BytesSchema) -> JsonSchemaValue:
        return {UNSUPPORTED: "bytes"}

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,
    ) -> bool:
        if self.mode == "serialization" and field["type"] != "typed-dict-field":
            return field.get("serialization_exclude_if") is None
        return super().field_is_required(field, total)


def wire_schemas(
    items: Sequence[tuple[K, Mode, TypeAdapter[Any]]],
) -> tuple[dict[K, JsonSchema], dict[str, JsonSchema], dict[K, str]]:
    """Schemas for ``items`` sharing one set of definitions (``$ref``: ``#/$defs/Name``).

    Returns the schema by key, the definitions by name, and by key the reason
    for each item pydantic could not describe (left out of the first two).
    """
    good: list[tuple[K, Mode, TypeAdapter[Any]]] = []
    failed: dict[K, str] = {}
    for key, mode, adapter in items:
        try:
            adapter.json_schema(mode=mode, by_alias=True, schema_generator=_WireSchema)
        except Exception as exc:  # PydanticInvalidForJsonSchema and its kin
            failed[key] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        else:
            good.append((key, mode, adapter))
    by_key, top = TypeAdapter.json_schemas(
        good, by_alias=True, ref_template=REF_PREFIX + "{model}", schema_generator=_WireSchema
    )
    schemas = {key: schema for (key, _mode), schema in by_key.items()}
    return schemas, dict(top.get("$defs", {})), failed
