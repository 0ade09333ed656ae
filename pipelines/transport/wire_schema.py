"""Request serializers whose OpenAPI schema says exactly what they accept.

A ``StrictSerializer`` refuses unknown fields, and its schema says ``additionalProperties: false``; a field that
refuses more than its type says (control characters, blank text) names the pattern of what it accepts in
``schema_pattern``, which the schema carries as ``pattern``. The drf-spectacular extension below does both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.settings import api_settings
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from pipelines.transport import input_limits

if TYPE_CHECKING:
    from drf_spectacular.openapi import AutoSchema
    from drf_spectacular.utils import Direction

# JSON Schema (ECMA-262) patterns, escaped for JSON.
_PRINTABLE = "[^\\u0000-\\u001f\\u007f-\\u009f]"
NO_CONTROL_CHARACTERS = f"^{_PRINTABLE}*$"
# Printable, and not only white space (a reason, say).
NOT_BLANK_PRINTABLE = f"^{_PRINTABLE}*[^\\s\\u0000-\\u001f\\u007f-\\u009f]{_PRINTABLE}*$"
NO_NUL = "^[^\\u0000]*$"
NOT_BLANK_NO_NUL = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
# What a body (or a nested object) that is no JSON object gets: the same detail as the routes that check by hand.
NOT_AN_OBJECT = "not an object"


class StrictSerializer(serializers.Serializer[dict[str, Any]]):
    """A request body: an object whose unknown fields are refused (``unknown field``), on every write route."""

    def run_validation(self, data: Any = empty) -> Any:
        # DRF says "Invalid data. Expected a dictionary, but got list." (or "No data provided" for null).
        if data is not empty and not (data is None and self.allow_null) and not isinstance(data, Mapping):
            raise serializers.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [NOT_AN_OBJECT]}, code="invalid")
        return super().run_validation(data)

    def to_internal_value(self, data: object) -> Any:
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, Mapping) else []
        errors = {name: ["unknown field"] for name in unknown}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, dict):
                raise
            raise serializers.ValidationError({**errors, **exc.detail}) from None
        if errors:
            raise serializers.ValidationError(errors)
        return value


def _printable(value: str) -> None:
    issue = input_limits.text_issue(value, max_length=len(value))
    if issue is not None:
        raise serializers.ValidationError(issue)


class Text(serializers.CharField):
    """A JSON string (a number is not one), without control characters or unpaired surrogates."""

    schema_pattern: str | None = NO_CONTROL_CHARACTERS

    def __init__(self, *, schema_pattern: str | None = None, **kwargs: Any) -> None:
        if schema_pattern is not None:
            self.schema_pattern = schema_pattern
        kwargs.setdefault("trim_whitespace", False)  # what was sent is what is validated and stored
        if not kwargs.get("allow_blank", False):
            kwargs.setdefault("min_length", 1)  # so the schema says what "may not be blank" means
        super().__init__(**kwargs)
        # DRF's own NUL and surrogate validators would repeat what ``_printable`` says of those characters.
        drf_own = (ProhibitNullCharactersValidator, ProhibitSurrogateCharactersValidator)
        self.validators = [v for v in self.validators if not isinstance(v, drf_own)] + [_printable]

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class StrictSerializerExtension(OpenApiSerializerExtension):
    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: AutoSchema, direction: Direction) -> Any:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = False
        for name, field in self.target.fields.items():
            pattern = getattr(field, "schema_pattern", None)
            if pattern and name in schema["properties"]:
                schema["properties"][name]["pattern"] = pattern
        return schema
