"""Request serializers whose OpenAPI schema says exactly what they accept.

A ``StrictSerializer`` refuses unknown fields, and its schema says ``additionalProperties: false``; a field that
refuses more than its type says (control characters, blank text) names the pattern of what it accepts in
``schema_pattern``, which the schema carries as ``pattern``. The drf-spectacular extension below does both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

# JSON Schema (ECMA-262) patterns, escaped for JSON.
NO_CONTROL_CHARACTERS = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
NO_NUL = "^[^\\u0000]*$"
NOT_BLANK_NO_NUL = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"


class StrictSerializer(serializers.Serializer):
    """A request body: an object whose unknown fields are refused (``unknown field``), on every write route."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["unknown field"] for name in unknown})
        return super().to_internal_value(data)


class StrictSerializerExtension(OpenApiSerializerExtension):
    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> Any:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = False
        for name, field in self.target.fields.items():
            pattern = getattr(field, "schema_pattern", None)
            if pattern and name in schema["properties"]:
                schema["properties"][name]["pattern"] = pattern
        return schema
