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
from django.db import IntegrityError, connection, transaction

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
