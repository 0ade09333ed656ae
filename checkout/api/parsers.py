"""DRF's JSON parser within the API's limits: a body nested deeper than ``TPFGO_API_MAX_JSON_DEPTH`` is refused
with INVALID_ARGUMENT (a nesting deep enough to exhaust Python's stack included) instead of failing as INTERNAL."""

from __future__ import annotations

from typing import IO, Any

from rest_framework.parsers import JSONParser

from checkout import input_limits


class BoundedJSONParser(JSONParser):
    def parse(self, stream: IO[Any], media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise input_limits.too_deep() from None
        return input_limits.check_depth(data)
