"""The characters no stored text may hold, for every layer that checks text before storing it.

PostgreSQL cannot store a NUL, neither backend can encode an unpaired surrogate (a str holds one only when a client
sent an escape such as ``"\\ud800"`` or a command line held bytes that are no UTF-8), and the other control characters
are refused so that both backends refuse the same input.
"""

from __future__ import annotations

import re

# In a name, an id or a one-line value: every control character (Unicode Cc: C0, DEL, C1) and the surrogates.
NOT_A_NAME = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# In free text (an audit row's reason): the same, but tab and line breaks are text.
NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

# What no database stores in text or in a JSON string: a NUL (PostgreSQL) and an unpaired surrogate (either).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def one_line(text: str) -> str:
    """Text a command prints that may repeat its input, as one line: each control character (a line break, an escape
    sequence's ESC) or surrogate becomes its escape (``\\n``, ``\\x1b``), so none reaches the terminal or the log."""
    return NOT_A_NAME.sub(lambda found: found.group().encode("unicode_escape").decode(), text)


def storable(text: str) -> str:
    """Text the server wrote itself (an exception's message, a traceback) in a form every database stores: a NUL or
    an unpaired surrogate becomes its escape (``\\x00``, ``\\udc80``), the rest is as it was."""
    if _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), text)


def storable_json(value: object) -> object:
    """``storable`` for every string of a JSON value, keys included."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(str(key)): storable_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable_json(item) for item in value]
    return value


def strings(value: object) -> list[str]:
    """Every string of a JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*value, *(text for item in value.values() for text in strings(item))]
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return []
