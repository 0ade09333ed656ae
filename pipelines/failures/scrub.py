"""Scrubbing: the secrets a failed attempt's free text must not carry, replaced before it is stored or sent.

An exception's message and traceback are free text: a dependency's error often quotes the request it refused (a
payment gateway echoing the token it was handed). The engine knows no domain's secrets, so a domain registers a
finder (``register``, from its ``AppConfig.ready``): given the failing item's payload snapshot
(``parking.describe``) and its event, it names each value to hide and what to show in its place. ``record`` applies
every finder's answer to the error-sink entry's message and traceback (so to the database, the stderr sink's line
and what a remote sink is sent) and to a dead letter's ``last_error``, before any of them is written.

A finder that fails withholds the text whole (fail closed): the entry keeps its class, code, payload and ids.

Whatever the finders answer, a PostgreSQL error's ``DETAIL`` is withheld (``database_details``): the server puts
the values of the row it refused there ("Failing row contains (…)", "Key (id)=(…) already exists."), a consumer's
name and key included, which no finder knows to look for. So is the value an input function could not take, which
its primary message quotes ('invalid input syntax for type uuid: "…"', 'time zone "…" not recognized', 'invalid
value "…" for "YYYY"'), and the statement's line its position points
at ("LINE 1: …", the parameters bound into it). Its class, SQLSTATE, type and constraint stay.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

import structlog

log = structlog.get_logger("pipelines.scrub")

# (payload snapshot, event) -> {secret: what is shown instead}
Finder = Callable[[Any, Mapping[str, Any] | None], Mapping[str, str]]

# A shorter value would match ordinary text (a word, a traceback's line number); secrets are longer than this.
SHORTEST = 6
WITHHELD = "[withheld: the values to hide could not be looked up]"

# A PostgreSQL error's text (libpq's, as psycopg's ``str`` gives it): its primary message, then "DETAIL:  …" (and
# any "HINT:  …", "CONTEXT:  …") to the end of the message. In a traceback a message ends where the next exception
# of its chain is introduced, or with the text. A quoted value may hold a newline, so no line ends the detail.
_DETAIL = re.compile(
    r"^DETAIL:  .*?(?=\n\n(?:The above exception was|During handling of the above exception)|\Z)", re.M | re.S
)
# Where a primary message quoting a value ends: the next part of the message, the next exception of a chain, the text.
_MESSAGE_END = (
    r"(?=\n(?:LINE \d+: |DETAIL:  |HINT:  |CONTEXT:  |QUERY:  )"
    r"|\n\n(?:The above exception was|During handling of the above exception)|\s*\Z)"
)
# The primary messages that quote the input value the server could not take (PostgreSQL's input functions), by their
# form: the words before the value and after it stay. A message quoting a name ('relation "x" does not exist',
# 'violates check constraint "x"') has none of these forms and is kept.
_QUOTED_VALUES = (
    re.compile(
        r"\b((?:(?:invalid input syntax for type|invalid input value for enum) [^\n:]+"
        r"|(?:date/time|interval) field value out of range"
        r"|malformed (?:array|record|range|multirange) literal"
        r"|invalid hexadecimal digit|invalid size|invalid value for parameter \"[^\"\n]*\"): )\".*?\"()" + _MESSAGE_END,
        re.S,
    ),
    re.compile(r"\b(value )\".*?\"( is out of range for type [\w ]+)", re.S),
    re.compile(r"\b(time zone )\".*?\"( not recognized)", re.S),
    re.compile(r"\b(unit )\".*?\"( not (?:recognized|supported) for type [\w ]+)", re.S),
    re.compile(r"\b(invalid value )\".*?\"( for \"[^\"\n]*\")" + _MESSAGE_END, re.S),
    re.compile(r"(^|: )\".*?\"( is out of range for type (?:real|double precision))", re.M | re.S),
)
# The statement's line that the error's position points at ("LINE 2: …" and its caret): Django binds the parameters
# into the statement's text, so it quotes the values.
_STATEMENT_LINE = re.compile(r"^(LINE \d+: ).*\n *\^$", re.M)
# The traceback's line naming the exception whose message the detail belongs to: psycopg's class gives the SQLSTATE.
_PSYCOPG_CLASS = re.compile(r"^psycopg\.errors\.(\w+): ", re.M)
_CHAINED = re.compile(r"\n\n(?:The above exception was|During handling of the above exception)")
DETAIL_WITHHELD = "DETAIL:  [withheld: a database error's detail quotes the values of a row{sqlstate}]"
VALUE_WITHHELD = "[withheld: a database error's quoted value{sqlstate}]"
STATEMENT_WITHHELD = "[withheld: the statement's text quotes values{sqlstate}]"

_finders: list[Finder] = []


def register(finder: Finder) -> None:
    """Apply ``finder`` to every failed attempt's text from now on (once, however often registered)."""
    if finder not in _finders:
        _finders.append(finder)


def _forms(secret: str) -> set[str]:
    """The ways a message may quote ``secret``: as it is, JSON-escaped, URL-encoded (a form body, a query string)."""
    return {secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)}


@dataclass(frozen=True)
class Scrub:
    """Text with every secret replaced (the longest first, so no part of one is left behind), or withheld whole."""

    replacements: tuple[tuple[str, str], ...] = ()
    withheld: bool = False

    def __call__(self, text: str) -> str:
        if self.withheld:
            return WITHHELD
        text = database_details(text)
        for secret, shown in self.replacements:
            text = text.replace(secret, shown)
        return text


NOTHING = Scrub()


def database_details(text: str) -> str:
    """``text`` with the values each PostgreSQL error quotes withheld, its SQLSTATE named when psycopg's class
    before it gives it: every ``DETAIL`` (the values of the row refused, of the key in conflict, of the input that did
    not parse), the value a primary message quotes (``invalid input syntax for type uuid: "…"``, ``value "…" is out
    of range for type integer``: its words and type kept) and the statement's line an error's position points at
    (``LINE 1: …``). The primary message naming a constraint, a table or a column stays. SQLite's messages quote no
    values."""
    for form in _QUOTED_VALUES:
        text = _withhold(text, form, lambda match, state: match[1] + VALUE_WITHHELD.format(sqlstate=state) + match[2])
    text = _withhold(text, _STATEMENT_LINE, lambda match, state: match[1] + STATEMENT_WITHHELD.format(sqlstate=state))
    return _withhold(text, _DETAIL, lambda match, state: DETAIL_WITHHELD.format(sqlstate=state))


def _withhold(text: str, pattern: re.Pattern[str], shown: Callable[[re.Match[str], str], str]) -> str:
    """``text`` with each match of ``pattern`` replaced by ``shown`` of it and the SQLSTATE of its own exception."""

    def replaced(match: re.Match[str]) -> str:
        named = list(_PSYCOPG_CLASS.finditer(text, 0, match.start() + 2))  # a value may follow the class's ": "
        own = named and not _CHAINED.search(text, named[-1].end(), match.start())  # the match's own exception
        return shown(match, _sqlstate(named[-1][1]) if own else "")

    return pattern.sub(replaced, text)


def _sqlstate(name: str) -> str:
    import psycopg.errors

    code = getattr(getattr(psycopg.errors, name, None), "sqlstate", None)
    return f"; SQLSTATE {code}" if isinstance(code, str) else ""


def for_item(snapshot: Any, event: Mapping[str, Any] | None) -> Scrub:
    """The scrub of a failed attempt's text, from every registered finder's secrets for this item."""
    found: dict[str, str] = {}
    for finder in _finders:
        try:
            secrets = finder(snapshot, event)
        except Exception as exc:  # noqa: BLE001  (what to hide is unknown: hide the whole text, keep the entry)
            log.error(
                "error_sink.scrub_failed",
                finder=getattr(finder, "__qualname__", repr(finder)),
                error=type(exc).__name__,
            )
            return Scrub(withheld=True)
        for secret, shown in secrets.items():
            if len(secret) >= SHORTEST:
                found.update(dict.fromkeys(_forms(secret), shown))
    return Scrub(tuple(sorted(found.items(), key=lambda pair: -len(pair[0]))))
