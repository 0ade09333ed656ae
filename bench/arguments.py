"""The argument checks of every ``python -m bench`` parser, the main bench's and each sub-bench's.

A count, a list of counts, a duration, a list of names, a database or a server URL a bench cannot run is refused
with one argparse line (``error: argument --orders: '-5': a whole number from 1 to 10,000,000``, exit 2) before
anything is created; it used to fail part-way with a traceback, or to measure nothing and print it as a figure.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import urllib.parse
from collections.abc import Callable

MAX_ORDERS = 10_000_000  # orders in a figure or a history level (the largest default is 1,000,000)
MAX_REPEATS = 100  # repeats, rounds, passes, loads and blocks of one figure
MAX_PROCESSES = 256  # processes, nodes, threads or clients at once
MAX_SECONDS = 3600.0  # one timed phase
SERVER_DATABASES = ("postgres", "template0", "template1")
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"


def count(low: int, high: int) -> Callable[[str], int]:
    """A whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        value = _whole(text)
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r}: a whole number from {low:,} to {high:,}")
        return value

    return parse


def counts(low: int, high: int) -> Callable[[str], str]:
    """Whole numbers from ``low`` to ``high`` separated by commas, given back without spaces (``0,10000``)."""

    def parse(text: str) -> str:
        values = [_whole(part) for part in text.split(",")]
        if not all(value is not None and low <= value <= high for value in values):
            raise argparse.ArgumentTypeError(f"{text!r}: whole numbers from {low:,} to {high:,} separated by commas")
        return ",".join(str(value) for value in values)

    return parse


def number(above: float, high: float) -> Callable[[str], float]:
    """A number above ``above`` and at most ``high`` (never NaN or infinite)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not above < value <= high:  # NaN compares false
            raise argparse.ArgumentTypeError(f"{text!r}: a number above {_shown(above)} and at most {_shown(high)}")
        return value

    return parse


def names(*known: str) -> Callable[[str], str]:
    """One or more of ``known`` separated by commas, given back without spaces (``sqlite,postgres``)."""

    def parse(text: str) -> str:
        given = [part.strip() for part in text.split(",")]
        if not all(given) or not set(given) <= set(known):
            raise argparse.ArgumentTypeError(f"{text!r}: {', '.join(known)}, or several separated by commas")
        return ",".join(dict.fromkeys(given))

    return parse


def database(longest: int) -> Callable[[str], str]:
    """A PostgreSQL database of the bench's own: 1 to ``longest`` lower-case letters, digits and underscores, none of
    the server's own. The name goes unquoted into ``CREATE``/``DROP DATABASE`` and into a URL's path: "test" dropped
    the database named test, a name holding SQL ran it, a ``/`` or ``?`` changed the URL."""

    def parse(text: str) -> str:
        if not re.fullmatch(rf"[a-z_][a-z0-9_]{{0,{longest - 1}}}", text) or text in SERVER_DATABASES:
            raise argparse.ArgumentTypeError(
                f"{text!r}: a database of the bench's own, 1-{longest} lower-case letters, digits and underscores "
                "(not postgres, template0 or template1)"
            )
        return text

    return parse


def database_url(text: str) -> str:
    """``sqlite:///PATH``, or ``postgresql://HOST/NAME`` with NAME a database of the bench's own (up to 63
    characters, PostgreSQL's longest name); never repeated in the refusal, which may hold a password."""
    url = _split(text)
    if url is not None and url.scheme == "sqlite" and not url.netloc and url.path.strip("/"):
        return text
    if url is not None and _on_a_server(url):
        try:
            database(63)(url.path.removeprefix("/"))
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"the URL's database {exc}") from None
        return text
    raise argparse.ArgumentTypeError("sqlite:///PATH or postgresql://HOST/NAME")


def server_url(text: str) -> str:
    """``postgres://HOST[:PORT]/NAME`` (or ``postgresql://``): the PostgreSQL server a bench creates and drops its
    databases on, through its database NAME (``postgres``). A bench names its own database by replacing NAME: without
    it, ``postgres://u@h`` became ``postgres://tpfgo_bench_…``, a host of that name. Never repeated in the refusal,
    which may hold a password."""
    url = _split(text)
    if url is None or not _on_a_server(url) or not re.fullmatch(r"/[^/]+", url.path):
        raise argparse.ArgumentTypeError("postgres://HOST[:PORT]/NAME or postgresql://HOST[:PORT]/NAME")
    return text


def server_default() -> str:
    """Every bench's ``--pg-url`` default: ``BENCH_PG_URL``, else PostgreSQL on 127.0.0.1:5432 (checked by
    ``server_url`` as a given ``--pg-url`` is)."""
    return os.environ.get("BENCH_PG_URL", DEFAULT_SERVER)


def with_database(server: str, name: str) -> str:
    """``server``'s URL with the database ``name`` instead of its own; its user, password, host, port and query
    (``?sslmode=disable``, ``?host=/var/run/postgresql``) kept. Cutting the URL at its last ``/`` dropped the query,
    or cut inside it."""
    url = urllib.parse.urlsplit(server)
    query = f"?{url.query}" if url.query else ""
    return f"{url.scheme}://{url.netloc}/{name}{query}"  # urlunsplit drops the // of an empty host


def _split(text: str) -> urllib.parse.SplitResult | None:
    """The URL's parts, or None when it is malformed (``[`` unclosed, a port that is no number, 0 or past 65535):
    urllib's ValueError would have argparse repeat the URL in its refusal."""
    try:
        url = urllib.parse.urlsplit(text)
        port = url.port
    except ValueError:
        return None
    return None if port == 0 else url


def _on_a_server(url: urllib.parse.SplitResult) -> bool:
    """A PostgreSQL URL with a host: in its authority, or libpq's ``?host=`` (a socket's folder)."""
    host = bool(url.hostname) or any(urllib.parse.parse_qs(url.query).get("host", []))
    return url.scheme in ("postgres", "postgresql") and host


def _shown(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:g}"


def _whole(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


ORDERS = count(1, MAX_ORDERS)
REPEATS = count(1, MAX_REPEATS)
PROCESSES = count(1, MAX_PROCESSES)
SECONDS = number(0, MAX_SECONDS)
BACKENDS = names("sqlite", "postgres")
