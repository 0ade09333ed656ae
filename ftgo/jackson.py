"""Jackson's scalar coercions, as FTGO's services apply them to a request body (docs/ftgo.md, "Scalars").

FTGO's services read a body with Jackson 2.9's ``ObjectMapper``, which FTGO configures for its ``Money`` and time
types only, so Jackson's default coercions apply to every other field:

- a Java ``int`` or ``long`` (a quantity, ``consumerId``, ``restaurantId``) takes a JSON integer; a number with a
  fraction or an exponent, truncated toward zero (``ACCEPT_FLOAT_AS_INT``); or text holding a whole number
  (``ALLOW_COERCION_OF_SCALARS``): an optional sign and decimal digits, read by ``Integer.parseInt`` after Java's
  ``trim`` (which drops the code points up to U+0020 at either end). ``true`` and ``false`` are refused.
- a Java ``String`` (a menu item id, a name, an address's part) takes text; a JSON integer (its digits) or ``true``
  / ``false`` (the word).
- a Java ``boolean`` (a courier's ``available``) takes ``true`` or ``false``; a JSON integer (0 is false, any
  other true); or the text ``true``, ``True``, ``false`` or ``False`` after Java's ``trim``.

This surface reads them so, and only this surface: TPFGo's own API stays strict. Where Jackson would refuse a
value, or where this surface refuses what Jackson takes (see below), the value is left as sent, and TPFGo's own
check refuses it naming the client's field. Two forms Jackson takes are refused here: no value where a number or
a boolean is due (absent, ``null``, ``""`` or ``"null"``, which Jackson reads as 0 or false: 0 takes an item off a
revision), and a number with a fraction where text is due (Jackson keeps the number's text as written, which the
parsed JSON no longer holds).
"""

from __future__ import annotations

import math
import re

from pipelines import BoundedJSONParser

INT = 2**31 - 1  # Java's int
LONG = 2**63 - 1  # Java's long
# Integer.parseInt's and Long.parseLong's text: a sign, then digits of any script (Character.digit's Nd, as \d).
_WHOLE = re.compile(r"[+-]?\d{1,40}")
_JAVA_TRIMMED = "".join(map(chr, range(0x21)))


class NegativeZero(int):
    """The JSON integer ``-0``: 0 to Python, not to Jackson 2.9, which reads a boolean from an integer's text
    (``!"0".equals(text)``: ``-0`` is true; Jackson 2.12 and later read it false) and a ``String`` as that text."""

    def __new__(cls) -> NegativeZero:
        return super().__new__(cls, 0)


def json_integer(text: str) -> int:
    return NegativeZero() if text == "-0" else int(text)


class JacksonJSONParser(BoundedJSONParser):
    """The API's JSON parser, keeping ``-0`` apart from ``0`` (``NegativeZero``) for the coercions below."""

    parse_int = staticmethod(json_integer)


def integer(value: object, largest: int = INT) -> object:
    """``value`` as Jackson reads it into a Java ``int`` (``largest`` INT) or ``long`` (LONG); ``value`` itself
    when Jackson would refuse it, or when it is ``null`` or text that is not a whole number."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value):
        number = math.trunc(value)
    elif isinstance(value, str) and _WHOLE.fullmatch(value.strip(_JAVA_TRIMMED)):
        number = int(value.strip(_JAVA_TRIMMED))
    elif isinstance(value, int):
        number = value
    else:
        return value
    return number if -largest - 1 <= number <= largest else value


def text(value: object) -> object:
    """``value`` as Jackson reads it into a Java ``String``: text as is, an integer's digits, ``true`` or
    ``false``; ``value`` itself otherwise (a fraction, ``null``, an object or a list)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, NegativeZero):
        return "-0"
    if isinstance(value, int):
        return str(value)
    return value


def boolean(value: object) -> object:
    """``value`` as Jackson reads it into a Java ``boolean``; ``value`` itself otherwise (``null``, a fraction,
    other text, and ``-0``, which Jackson 2.9 reads as true and later versions as false: left for the strict check
    to refuse)."""
    if isinstance(value, bool | NegativeZero):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value.strip(_JAVA_TRIMMED) in ("true", "True", "false", "False"):
        return value.strip(_JAVA_TRIMMED).lower() == "true"
    return value
