"""A database that cannot be reached, told apart from every other database error.

A connection-level error (the server refuses or drops the connection, is shutting down, or has no slot left) is
an outage: the same request may succeed later, so transports answer ``UNAVAILABLE`` (HTTP 503 with
``Retry-After``, gRPC with ``RetryInfo``). A request the database left midway may have stored its first steps; sent
again, it does none of them twice (deterministic ids), and the sweeper completes the rest (a placement sent again is
a replay: it answers the order as stored and runs nothing, docs/api.md). Any other database error (a constraint, a
serialization failure, a cancelled statement) is not an outage, and stays whatever it was.
"""

from __future__ import annotations

import sqlite3

from django.conf import settings
from django.db import InterfaceError, OperationalError

from pipelines.transport.wire_errors import WireError

# SQLSTATEs of a lost or refused connection: class 08 (connection exception), the server shutting down or
# starting up (57P01-57P03), and no connection slot left (53300).
_CONNECTION_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
# SQLite has no server; its one "cannot reach the database" error is a file it cannot open.
_SQLITE_UNREACHABLE = ("unable to open database file",)


def is_outage(exc: BaseException) -> bool:
    """``exc`` (Django's wrapper of a driver error) means the database cannot be reached."""
    if isinstance(exc, InterfaceError):
        return True  # the connection is closed or broken: nothing reached the server
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if isinstance(cause, sqlite3.Error):
        return str(cause).startswith(_SQLITE_UNREACHABLE)
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is None:
        # psycopg raises client-side errors (connection refused, connection lost) without a SQLSTATE.
        return cause is not None and type(cause).__module__.startswith("psycopg")
    return sqlstate.startswith("08") or sqlstate in _CONNECTION_SQLSTATES


def unavailable() -> WireError:
    """The answer to an outage, with the ``Retry-After`` of ``TPFGO_API_UNAVAILABLE_RETRY_AFTER``."""
    return WireError(
        "UNAVAILABLE",
        "the database cannot be reached; the request may be partly done: send the same request again later "
        "(what it stored is taken up, not done twice)",
        retry_after=float(getattr(settings, "TPFGO_API_UNAVAILABLE_RETRY_AFTER", 5)),
    )
