"""A database error's detail quotes the values of the row it refused: PostgreSQL's "Failing row contains (…)" (a
consumer's name and ``personal_key``, the key erasure destroys) and "Key (…)=(…) already exists.". Every text the
project logs or stores of an error withholds that detail and keeps its class, SQLSTATE and constraint
(``pipelines.failures.scrub.database_details``): a failed step's error-sink entry and dead letter, an unexpected
error's ``api.internal_error`` and ``rpc.internal_error`` lines. SQLite's messages name the constraint only."""

from __future__ import annotations

import json
import uuid

import pytest
import structlog
from django.db import DataError, IntegrityError, ProgrammingError, connection, transaction

from checkout.api.errors import to_service_error
from checkout.models import Consumer
from pipelines.failures import record, sinks
from pipelines.models import ErrorSinkEntry
from pipelines.transport import rpc
from tests.checkout.erasure_helpers import captured_logs

pytestmark = pytest.mark.django_db

NAME = "Zelda Quaintance"
KEY = bytes.fromhex(
    "9f8e7d6c5b4a39281706f5e4d3c2b1a0" * 2
)  # a consumer's personal key, as PostgreSQL quotes it: \x9f8e…
WITHHELD = "DETAIL:  [withheld: a database error's detail quotes the values of a row; SQLSTATE {}]"


def refused(sql_constraint: str | None, **fields: object) -> IntegrityError:
    """The database's own refusal of a consumer's row (a check added for the test, or the primary key taken)."""
    if sql_constraint and connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # the test's transaction rolls it back
            cursor.execute(f"ALTER TABLE checkout_consumer ADD CONSTRAINT {sql_constraint}")
    try:
        with transaction.atomic():
            Consumer.objects.create(**fields)
    except IntegrityError as exc:
        return exc
    raise AssertionError("the row was not refused")


def every_text(exc: IntegrityError) -> dict[str, str]:
    """The error as each place that logs or stores one shows it."""
    snapshot = {"consumer_id": "zeb"}
    entry = record.sink_entry("p", "s", ("Consumer", uuid.uuid4(), snapshot), uuid.uuid4(), None, 1, exc)
    assert sinks.store(entry)
    stored = ErrorSinkEntry.objects.get(pk=entry.id)
    with captured_logs() as logged:
        to_service_error(exc)
    (line,) = [json.loads(text) for text in logged().splitlines() if "api.internal_error" in text]
    return {
        "message": stored.message,
        "traceback": stored.traceback,
        "api.internal_error": line["exception"],
        "rpc.internal_error": rpc._scrubbed_traceback(exc, None),
    }


def test_postgresql_failing_row_is_withheld_everywhere_its_class_sqlstate_and_constraint_kept():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's check violation quotes no row")
    exc = refused("refused_name CHECK (name <> 'Zelda Quaintance')", id="zeb", name=NAME, personal_key=KEY)
    quoted = f"Failing row contains (zeb, {NAME}, t, , \\x{KEY.hex()[:40]}"  # a value is cut at 64 characters
    assert quoted in str(exc)  # what the database said
    texts = every_text(exc)
    for place, text in texts.items():
        assert not [value for value in (NAME, KEY.hex()[:16], "Failing row") if value in text], place
        assert 'violates check constraint "refused_name"' in text, place
    for place in ("traceback", "api.internal_error", "rpc.internal_error"):
        assert "psycopg.errors.CheckViolation" in texts[place] and WITHHELD.format("23514") in texts[place], place
    assert Consumer.objects.count() == 0
    assert ErrorSinkEntry.objects.count() == 1


def test_postgresql_key_already_existing_is_withheld():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's unique violation quotes no key")
    Consumer.objects.create(id=NAME, name="x")
    texts = every_text(refused(None, id=NAME, name="y"))
    for place, text in texts.items():
        assert NAME not in text and "already exists" not in text, place
        assert 'violates unique constraint "checkout_consumer_pkey"' in text, place
    assert WITHHELD.format("23505") in texts["traceback"]
    assert Consumer.objects.count() == 1


def test_sqlites_refusal_names_the_constraint_only_and_is_kept_as_it_is():
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's refusal quotes the row")
    Consumer.objects.create(id=NAME, name="x")
    texts = every_text(refused(None, id=NAME, name="y"))
    for place, text in texts.items():
        assert NAME not in text and "UNIQUE constraint failed: checkout_consumer.id" in text, place
        assert "DETAIL" not in text, place
    assert Consumer.objects.count() == 1


def test_any_line_logging_a_database_error_withholds_its_detail():
    """A line no scrubber sees (``log.exception`` while ingesting, a handoff, an observer): the log formatter
    withholds the detail of every field (``tpfgo_site.logs.database_details``)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's unique violation quotes no key")
    Consumer.objects.create(id=NAME, name="x")
    exc = refused(None, id=NAME, name="y")
    with captured_logs() as logged:
        try:
            raise exc
        except IntegrityError:
            structlog.get_logger("tests.database_detail").exception("any.line", error=str(exc))
    (line,) = [json.loads(text) for text in logged().splitlines() if "any.line" in text]
    assert NAME not in logged()
    assert line["exception"].count(WITHHELD.format("23505")) == 1
    assert line["error"].endswith("\nDETAIL:  [withheld: a database error's detail quotes the values of a row]")


VALUE = "[withheld: a database error's quoted value{}]"
STATEMENT = "LINE 1: [withheld: the statement's text quotes values{}]"


def refused_input(sql: str, value: str) -> DataError:
    """The database's refusal of a value its input function cannot take (bound into the statement's text)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [value])
    except DataError as exc:
        return exc
    raise AssertionError("the value was taken")


@pytest.mark.parametrize(
    ("sql", "value", "message", "sqlstate"),
    [
        ("SELECT %s::uuid", f"{NAME}\n{KEY.hex()}", "invalid input syntax for type uuid: {}", "22P02"),
        ("SELECT %s::integer", NAME, "invalid input syntax for type integer: {}", "22P02"),
        ("SELECT %s::date", f"2026-13-45 {NAME}", "invalid input syntax for type date: {}", "22007"),
        ("SELECT %s::date", "2026-13-45", "date/time field value out of range: {}", "22008"),
        ("SELECT %s::integer", "98765432109", "value {} is out of range for type integer", "22003"),
    ],
)
def test_postgresql_input_value_quoted_in_the_message_is_withheld_everywhere_its_words_and_type_kept(
    sql, value, message, sqlstate
):
    """The primary message of an input function's refusal quotes the value, and the statement's line its error points
    at (``LINE 1: SELECT '…'::uuid``) quotes it too: both withheld, the words, the type and the SQLSTATE kept."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no input functions that refuse a value")
    exc = refused_input(sql, value)
    assert value.splitlines()[0] in str(exc)  # what the database said
    texts = every_text(exc)
    for place, text in texts.items():
        assert not [part for part in (NAME, KEY.hex()[:16], value, "SELECT") if part in text], place
        assert message.format(VALUE.format("")) in text, place
    for place in ("traceback", "api.internal_error", "rpc.internal_error"):
        assert message.format(VALUE.format(f"; SQLSTATE {sqlstate}")) in texts[place], place
        assert STATEMENT.format(f"; SQLSTATE {sqlstate}") in texts[place], place
    assert ErrorSinkEntry.objects.count() == 1


def test_a_message_quoting_a_name_keeps_the_name_and_withholds_the_statements_line():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's message quotes no statement")
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT nothing FROM checkout_consumer WHERE name = %s", [NAME])
    except ProgrammingError as exc:
        texts = every_text(exc)
    for place, text in texts.items():
        assert NAME not in text and 'column "nothing" does not exist' in text, place
    assert STATEMENT.format("; SQLSTATE 42703") in texts["traceback"]


def test_a_line_logging_an_input_error_withholds_its_value():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no input functions that refuse a value")
    exc = refused_input("SELECT %s::uuid", NAME)
    with captured_logs() as logged:
        structlog.get_logger("tests.database_detail").error("any.line", error=str(exc))
    (line,) = [json.loads(text) for text in logged().splitlines() if "any.line" in text]
    assert NAME not in logged()
    assert line["error"] == f"invalid input syntax for type uuid: {VALUE.format('')}\n{STATEMENT.format('')}"


@pytest.mark.parametrize(
    ("sql", "value", "quoted", "message", "sqlstate"),
    [
        ("SELECT now() AT TIME ZONE %s", NAME, NAME, "time zone {} not recognized", "22023"),
        (
            "SELECT %s::timestamptz",
            "2026-01-01 10:00 Zelda/Quaintance",
            "zelda/quaintance",
            "time zone {} not recognized",
            "22023",
        ),
        ("SELECT date_trunc(%s, now())", NAME, NAME.lower(), "unit {} not recognized for type timestamp", "22023"),
        ("SELECT to_date(%s, 'YYYY-MM-DD')", f"{NAME}-01-01", NAME[:4], 'invalid value {} for "YYYY"', "22007"),
        ("SELECT decode(%s, 'hex')", f"Ω{NAME}", "Ω", "invalid hexadecimal digit: {}", "22023"),
        ("SELECT %s::bytea", f"\\xΩ{NAME}", "Ω", "invalid hexadecimal digit: {}", "22023"),
        ("SELECT set_config('work_mem', %s, true)", NAME, NAME, 'invalid value for parameter "work_mem": {}', "22023"),
        ("SELECT pg_size_bytes(%s)", NAME, NAME, "invalid size: {}", "22023"),
    ],
)
def test_postgresql_values_quoted_by_other_message_forms_are_withheld_everywhere(sql, value, quoted, message, sqlstate):
    """A time zone, a unit, a formatting field's value, a hex digit, a setting's value, a size: each message quotes
    what it was given (PostgreSQL lowercases a time zone or unit), and each is withheld with its words kept."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no input functions that refuse a value")
    exc = refused_input(sql, value)
    assert f'"{quoted}' in str(exc)  # what the database said
    texts = every_text(exc)
    for place, text in texts.items():
        assert not [part for part in (NAME, NAME.lower(), quoted, "SELECT") if part in text], place
        assert message.format(VALUE.format("")) in text, place
    for place in ("traceback", "api.internal_error", "rpc.internal_error"):
        assert message.format(VALUE.format(f"; SQLSTATE {sqlstate}")) in texts[place], place
    assert ErrorSinkEntry.objects.count() == 1
