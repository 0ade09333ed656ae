"""Java's ``LocalDateTime`` as FTGO's clients send it, read as a UTC time for TPFGo.

Jackson writes a ``LocalDateTime`` as ISO-8601 text without a zone, or (with its default
``WRITE_DATES_AS_TIMESTAMPS``) as an array ``[year, month, day, hour, minute, second?, nanosecond?]``. Neither
carries a zone; this surface reads both as UTC (docs/ftgo.md). Text with a zone keeps its zone. TPFGo keeps
microseconds: a nanosecond part is cut.
"""

from __future__ import annotations

import datetime
import re

from pipelines import Detail, InvalidArgument, input_limits

# Jackson reads LocalDateTime text as ISO_LOCAL_DATE_TIME: a second's fraction after a dot, of at most 9 digits.
# The API's reader also takes a comma and up to 12 digits, which Jackson refuses.
_NOT_JACKSONS_FRACTION = re.compile(r",|\.\d{10}")
ISSUE = "must be an ISO-8601 date-time (without a zone: UTC) or [year, month, day, hour, minute, second?, nanosecond?]"


def utc_text(value: object, field: str) -> str | None:
    """``value`` as ISO-8601 text in UTC, None when absent; INVALID_ARGUMENT naming ``field`` otherwise. Absent is
    what Jackson's ``LocalDateTimeDeserializer`` reads as null: ``null``, ``""`` and the empty array ``[]``."""
    if value is None or value == "" or value == []:
        return None
    parsed = _parse(value)
    if parsed is None:
        raise InvalidArgument(f"{field} is not a date-time", [Detail(field, ISSUE)])
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def _parse(value: object) -> datetime.datetime | None:
    if isinstance(value, str):
        if _NOT_JACKSONS_FRACTION.search(value):
            return None
        return input_limits.parse_time(value)  # None: malformed, impossible, or outside years 1-9999 in UTC
    if not isinstance(value, list) or not 5 <= len(value) <= 7:
        return None
    if any(isinstance(part, bool) or not isinstance(part, int) for part in value):
        return None
    year, month, day, hour, minute, *rest = value
    second = rest[0] if rest else 0
    nanosecond = rest[1] if len(rest) > 1 else 0
    try:
        return datetime.datetime(year, month, day, hour, minute, second, nanosecond // 1000)
    except (ValueError, OverflowError):  # out of range, or beyond a C long (a year of 10**30)
        return None
