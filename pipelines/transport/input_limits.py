"""The limits on what a client sends, the same on every transport: body size, JSON depth and text fields.

``BoundedJSONParser`` is DRF's JSON parser within them, for every API view (the checkout routes and the
error-sink route); ``check_body_size`` refuses a body over the limit before it is read.

Each limit is a setting with a documented default (docs/api.md, "Limits"): ``TPFGO_API_MAX_BODY_BYTES``,
``TPFGO_API_MAX_JSON_DEPTH`` and ``TPFGO_API_MAX_TEXT_LENGTH``. Text is refused, not cleaned, when it holds a
control character or an unpaired surrogate: PostgreSQL cannot store a NUL and neither backend can encode a lone
surrogate, so both backends refuse the same requests before anything is stored.
"""

from __future__ import annotations

import codecs
import datetime
import io
import json
import math
import sys
from collections.abc import Callable, Mapping
from typing import IO, Any

from django.conf import settings
from django.utils.dateparse import datetime_re, parse_datetime
from drf_spectacular.utils import OpenApiResponse
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request

from pipelines.contracts.status import Detail, InvalidArgument
from pipelines.contracts.text import NOT_A_NAME
from pipelines.transport.wire_errors import WireError


def max_body_bytes() -> int:
    return int(settings.TPFGO_API_MAX_BODY_BYTES)


# A JSON route's refusals of its body before it is read, as its OpenAPI responses list them (every route that takes
# a body answers both: check_body_size, then the parser's media type).
BODY_REFUSALS = {
    413: OpenApiResponse(description="RESOURCE_EXHAUSTED: the body is larger than TPFGO_API_MAX_BODY_BYTES"),
    415: OpenApiResponse(description="INVALID_ARGUMENT: unsupported media type (JSON only)"),
}


def max_json_depth() -> int:
    return int(settings.TPFGO_API_MAX_JSON_DEPTH)


def max_text_length() -> int:
    return int(settings.TPFGO_API_MAX_TEXT_LENGTH)


def body_too_large(size: int, where: str = "body") -> WireError:
    """A body over the limit: 413 on HTTP, RESOURCE_EXHAUSTED (as grpcio answers an oversized message)."""
    limit = max_body_bytes()
    return WireError(
        "RESOURCE_EXHAUSTED",
        f"the request body is {size} bytes; the limit is {limit} bytes (TPFGO_API_MAX_BODY_BYTES)",
        [Detail(where, f"larger than {limit} bytes")],
        http_status=413,
    )


def too_deep(where: str = "body") -> InvalidArgument:
    limit = max_json_depth()
    return InvalidArgument(
        f"the JSON body is nested deeper than {limit} levels", [Detail(where, f"nested deeper than {limit} levels")]
    )


def nesting_depth(data: object) -> int:
    """Levels of objects and arrays (a scalar is 0), computed without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def check_depth(data: object, where: str = "body") -> Any:
    if nesting_depth(data) > max_json_depth():
        raise too_deep(where)
    return data


def unique_keys(where: str) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """``object_pairs_hook`` refusing an object that names one key twice: JSON leaves its meaning open (Python keeps
    the last, other readers the first), so a proxy or a log reader could see another order than the one stored."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        read: dict[str, Any] = {}
        for key, value in items:
            if key in read:
                issue = f"holds the key {key[:64]!r} twice in one object"
                raise InvalidArgument(f"the JSON {issue}", [Detail(where, issue)])
            read[key] = value
        return read

    return pairs


BOM = "\ufeff"
# What a body or an ingest line that starts with two byte order marks is told (one is read past, as RFC 8259 allows).
SECOND_BOM = "a byte order mark (U+FEFF) may come once, before the JSON text; this one has another"


def _past_bom(raw: bytes | str, where: str) -> bytes | str:
    """``raw`` without the byte order mark it may start with; a second one is refused (:data:`SECOND_BOM`)."""
    if isinstance(raw, bytes):
        data = raw.removeprefix(codecs.BOM_UTF8)
        if data.startswith(codecs.BOM_UTF8):
            raise InvalidArgument(SECOND_BOM, [Detail(where, "starts with two byte order marks")])
        return data
    text = raw.removeprefix(BOM)
    if text.startswith(BOM):
        raise InvalidArgument(SECOND_BOM, [Detail(where, "starts with two byte order marks")])
    return text


def loads(raw: bytes | str, where: str = "body") -> Any:
    """``json.loads`` within the depth limit (a nesting deep enough to exhaust Python's stack is refused too), and as
    strict as the API's JSON parser: ``NaN``, ``Infinity`` and a number beyond a float's range (``1e400``) are not
    JSON numbers, and no database stores them in a JSON column; an object naming a key twice is refused. One
    UTF-8 byte order mark before the text is read past, as the API's JSON parser reads past it."""

    def not_a_number(text: str) -> float:
        issue = f"holds {text}, which is not a JSON number"
        raise InvalidArgument(f"the JSON {issue}", [Detail(where, issue)])

    def finite(text: str) -> float:
        value = float(text)
        return value if math.isfinite(value) else not_a_number(text)

    text = _past_bom(raw, where)
    try:
        data = json.loads(text, parse_constant=not_a_number, parse_float=finite, object_pairs_hook=unique_keys(where))
    except RecursionError:
        raise too_deep(where) from None
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
            raise
        # Python refuses to read an integer of more than sys.get_int_max_str_digits() (4,300) digits
        issue = "holds a number with more digits than this server reads"
        raise InvalidArgument(f"the JSON {issue}", [Detail(where, issue)]) from None
    return check_depth(data, where)


def text_issue(value: object, max_length: int | None = None) -> str | None:
    """Why ``value`` cannot be a text field, or ``None``."""
    limit = max_length or max_text_length()
    if not isinstance(value, str) or len(value) > limit:
        return f"must be a string of at most {limit} characters"
    found = NOT_A_NAME.search(value)
    if found is None:
        return None
    if found.group() >= "\ud800":
        return "must not contain unpaired surrogates"
    return "must not contain control characters"


def parse_time(value: object) -> datetime.datetime | None:
    """An ISO-8601 date-time as the API reads it (``django.utils.dateparse.parse_datetime``, with or without a zone),
    or None when ``value`` is not one: not a string, longer than 64 characters, holding anything but ASCII (a
    control character, a NUL, digits of another script: Python's ``fromisoformat`` reads ``"…Z\x00junk"`` as the
    time before the NUL), not in the extended form ``YYYY-MM-DDTHH:MM[:SS[.ffffff]][zone]`` (``fromisoformat`` also
    reads a date alone as its midnight, the basic form ``20301204T183005`` and week dates ``2030-W49-3T12:00``),
    well formed but impossible (month 13), or, with a zone, outside years 1-9999 in UTC."""
    if not isinstance(value, str) or len(value) > 64 or not value.isascii() or NOT_A_NAME.search(value):
        return None
    if not datetime_re.match(value):
        return None
    try:
        parsed = parse_datetime(value)
        if parsed is not None and parsed.tzinfo is not None:
            parsed.astimezone(datetime.UTC)  # "0001-01-01T00:00:00+14:00" is before year 1 in UTC
    except (ValueError, OverflowError):
        return None
    return parsed


def check_text(value: object, field: str, max_length: int | None = None) -> str:
    """A text field as given, or INVALID_ARGUMENT naming the field."""
    issue = text_issue(value, max_length)
    if issue is not None:
        raise InvalidArgument(f"{field} {issue}", [Detail(field, issue)])
    return str(value)  # text_issue found nothing: it is a str


def check_body_size(request: Request) -> None:
    """A body over the limit is RESOURCE_EXHAUSTED (413) before it is read. A body sent without a Content-Length
    (``Transfer-Encoding: chunked``, which gunicorn decodes and marks with ``wsgi.input_terminated``) is read here,
    at most one byte past the limit, and handed to the parsers: Django and DRF read a body by its Content-Length
    only, so such a body was read as empty (a valid order answered ``consumerId: is required``)."""
    meta = request.META
    if not meta.get("CONTENT_LENGTH") and meta.get("wsgi.input_terminated"):
        _take_unsized_body(request)
        return
    try:
        size = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        size = 0
    if size > max_body_bytes():
        raise body_too_large(size)


def _take_unsized_body(request: Request) -> None:
    limit = max_body_bytes()
    data = request.META["wsgi.input"].read(limit + 1)
    if len(data) > limit:
        raise WireError(
            "RESOURCE_EXHAUSTED",
            f"the request body is more than {limit} bytes, the limit (TPFGO_API_MAX_BODY_BYTES)",
            [Detail("body", f"larger than {limit} bytes")],
            http_status=413,
        )
    # The body as if it had come with its Content-Length: Django's request reads its _stream (DRF reads the request).
    django_request = request._request
    django_request.META["CONTENT_LENGTH"] = str(len(data))
    django_request._stream = io.BytesIO(data)


class BoundedJSONParser(JSONParser):
    """DRF's strict JSON parser, and: one UTF-8 byte order mark before the body is read past (RFC 8259 lets a
    reader ignore it, and some editors and tools write one), where Python's reader refused it in its own words; a
    body nested deeper than ``TPFGO_API_MAX_JSON_DEPTH`` is INVALID_ARGUMENT (a nesting deep enough to exhaust
    Python's stack included) instead of failing as INTERNAL; so is an object that names a key twice
    (``unique_keys``). A subclass may read integers its own way (``parse_int``, given each integer's text)."""

    parse_int: Callable[[str], Any] | None = None

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        charset = parsers.get_encoding(parser_context or {})  # type: ignore[attr-defined]  # DRF's check; no stub
        read = self.parse_int or int
        try:
            text = codecs.getreader(charset)(stream).read()
            data = json.loads(
                _past_bom(text, "body"),  # one byte order mark is read past (RFC 8259, section 8.1)
                parse_constant=_strict_constant,
                object_pairs_hook=unique_keys("body"),
                parse_int=lambda digits: read(_readable_digits(digits)),
            )
        except RecursionError:
            raise too_deep() from None
        except ValueError as exc:  # as DRF's own parser answers it
            raise ParseError(f"JSON parse error - {exc}") from None
        return check_finite(check_depth(data))


def _readable_digits(text: str) -> str:
    """An integer's text, refused when it has more digits than Python reads (``sys.get_int_max_str_digits()``) as
    ``loads`` refuses it; DRF's answer was Python's own message, advice to call ``sys.set_int_max_str_digits()``
    included."""
    limit = sys.get_int_max_str_digits()
    if limit and len(text.lstrip("-")) > limit:
        issue = "holds a number with more digits than this server reads"
        raise InvalidArgument(f"the JSON {issue}", [Detail("body", issue)])
    return text


def _strict_constant(text: str) -> float:
    raise ValueError(f"Out of range float values are not JSON compliant: {text!r}")


def check_finite(data: object, where: str = "body") -> Any:
    """``data`` when every number in it is finite: DRF's strict parser refuses ``NaN`` and ``Infinity`` but reads
    ``1e400`` as an infinite float, which no database stores in a JSON column (``loads`` refuses all three)."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            issue = "holds a number beyond a float's range, which is not a JSON number"
            raise InvalidArgument(f"the JSON {issue}", [Detail(where, issue)])
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return data
