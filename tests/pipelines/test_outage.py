"""Only a database that cannot be reached is an outage; every other database error keeps its own meaning."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError

from pipelines.transport import outage


def wrapped(django_class: type[DatabaseError], cause: BaseException) -> DatabaseError:
    """What Django's error wrapper raises: its own class, the driver's error as the cause."""
    error = django_class(str(cause))
    error.__cause__ = cause
    return error


OUTAGES = {
    "connection refused": wrapped(OperationalError, psycopg.OperationalError("connection failed: refused")),
    "connection lost": wrapped(OperationalError, psycopg.OperationalError("consuming input failed")),
    "admin shutdown": wrapped(OperationalError, psycopg.errors.AdminShutdown("terminating connection")),
    "cannot connect now": wrapped(OperationalError, psycopg.errors.CannotConnectNow("starting up")),
    "too many connections": wrapped(OperationalError, psycopg.errors.TooManyConnections("no slot")),
    "connection exception": wrapped(OperationalError, psycopg.errors.ConnectionFailure("08006")),
    "connection already closed": InterfaceError("connection already closed"),
    "sqlite file": wrapped(OperationalError, sqlite3.OperationalError("unable to open database file")),
}
NOT_OUTAGES = {
    "serialization failure": wrapped(OperationalError, psycopg.errors.SerializationFailure("retry")),
    "statement cancelled": wrapped(OperationalError, psycopg.errors.QueryCanceled("timeout")),
    "deadlock": wrapped(OperationalError, psycopg.errors.DeadlockDetected("deadlock")),
    "unique violation": wrapped(IntegrityError, psycopg.errors.UniqueViolation("duplicate")),
    "sqlite locked": wrapped(OperationalError, sqlite3.OperationalError("database is locked")),
    "not a database error": ValueError("x"),
}


@pytest.mark.parametrize("case", OUTAGES)
def test_a_connection_level_error_is_an_outage(case):
    assert outage.is_outage(OUTAGES[case])


@pytest.mark.parametrize("case", NOT_OUTAGES)
def test_any_other_error_is_not_an_outage(case):
    assert not outage.is_outage(NOT_OUTAGES[case])


def test_an_outage_answers_unavailable_with_the_configured_retry_after(settings):
    settings.TPFGO_API_UNAVAILABLE_RETRY_AFTER = 3
    error = outage.unavailable()
    assert (error.code, error.http_status, error.retry_after) == ("UNAVAILABLE", 503, 3.0)
