"""Scrubbing a failed attempt's text (``pipelines.failures.scrub``): the values a domain's finder names are replaced
in every form a message quotes them in; a finder that fails withholds the text whole."""

from __future__ import annotations

import uuid

import pytest
import structlog.testing

from pipelines.failures import record, scrub


@pytest.fixture
def finders(monkeypatch):
    registered: list[scrub.Finder] = []
    monkeypatch.setattr(scrub, "_finders", registered)
    return registered


def test_a_secret_is_replaced_as_it_is_json_escaped_and_url_encoded(finders):
    secret = 'card/"9+z"=41'
    scrub.register(lambda snapshot, event: {secret: "…=41"})

    hide = scrub.for_item({"any": 1}, None)

    text = f'raw {secret} json "card/\\"9+z\\"=41" form source=card%2F%229%2Bz%22%3D41 plus card%2F%229%2Bz%22%3D41'
    assert hide(text) == 'raw …=41 json "…=41" form source=…=41 plus …=41'


def test_the_longest_secret_goes_first_and_a_short_value_is_left_alone(finders):
    scrub.register(lambda snapshot, event: {"tok_abcdef": "…cdef", "tok_abcdef_long": "…long", "12345": "…"})

    hide = scrub.for_item({}, None)

    assert hide("tok_abcdef_long tok_abcdef line 12345") == "…long …cdef line 12345"


def test_the_finder_is_given_the_items_snapshot_and_event_and_registered_once(finders):
    seen = []

    def finder(snapshot, event):
        seen.append((snapshot, event))
        return {}

    scrub.register(finder)
    scrub.register(finder)
    scrub.for_item({"id": 7}, {"kind": "woken"})

    assert seen == [({"id": 7}, {"kind": "woken"})]


def test_a_failing_finder_withholds_the_whole_text_and_logs_its_class_only(finders):
    def broken(snapshot, event):
        raise LookupError("secret lookup failed for tok_abcdef")

    scrub.register(broken)
    with structlog.testing.capture_logs() as logs:
        entry = record.sink_entry(
            "ingest", "index", ("Doc", uuid.uuid4(), {}), uuid.uuid4(), None, 1, RuntimeError("quotes tok_abcdef")
        )

    assert (entry.message, entry.traceback) == (scrub.WITHHELD, scrub.WITHHELD)
    assert entry.error_class == "builtins.RuntimeError"
    assert [(e["event"], e["error"]) for e in logs] == [("error_sink.scrub_failed", "LookupError")]


def test_without_a_finder_the_text_is_kept_as_it_is(finders):
    entry = record.sink_entry("ingest", "index", ("Doc", uuid.uuid4(), {}), uuid.uuid4(), None, 1, RuntimeError("x"))

    assert entry.message == "x" and entry.traceback == "RuntimeError: x\n"


def test_a_database_errors_detail_is_withheld_to_the_end_of_its_message_whatever_a_value_holds(finders):
    """A quoted value may hold a newline or a chain's words: the detail ends only where the next exception of the
    chain is introduced (its SQLSTATE named only from its own exception's psycopg class)."""
    detail = "DETAIL:  Failing row contains (zed, Zelda\nHINT:  x, \\x9f8e)."
    text = (
        f'psycopg.errors.CheckViolation: new row violates check constraint "c"\n{detail}\n\n'
        "The above exception was the direct cause of the following exception:\n\n"
        f'django.db.utils.IntegrityError: new row violates check constraint "c"\n{detail}\n'
    )
    withheld = "DETAIL:  [withheld: a database error's detail quotes the values of a row{}]"
    assert scrub.for_item({}, None)(text) == (
        f'psycopg.errors.CheckViolation: new row violates check constraint "c"\n{withheld.format("; SQLSTATE 23514")}'
        "\n\nThe above exception was the direct cause of the following exception:\n\n"
        f'django.db.utils.IntegrityError: new row violates check constraint "c"\n{withheld.format("")}'
    )


def test_a_value_quoted_in_a_database_errors_message_is_withheld_and_a_quoted_name_kept(finders):
    """Only the forms of PostgreSQL's input functions' messages (a value the server could not take) lose their
    quoted text; a message quoting a relation, column or constraint keeps it."""
    shown = "[withheld: a database error's quoted value]"
    messages = {
        'invalid input value for enum "Mood": "Zel"da"': f'invalid input value for enum "Mood": {shown}',
        'malformed array literal: "{Zelda"': f"malformed array literal: {shown}",
        'interval field value out of range: "9 Zelda"': f"interval field value out of range: {shown}",
        '"1e999 Zelda" is out of range for type double precision': f"{shown} is out of range for type double precision",
        'value "Zelda" is out of range for type smallint': f"value {shown} is out of range for type smallint",
        'time zone "Zel"da" not recognized': f"time zone {shown} not recognized",
        'unit "zelda" not recognized for type interval': f"unit {shown} not recognized for type interval",
        'invalid value "Zeld" for "YYYY"\nHINT:  x': f'invalid value {shown} for "YYYY"\nHINT:  x',
        'invalid hexadecimal digit: "Z"': f"invalid hexadecimal digit: {shown}",
        'invalid value for parameter "TimeZone": "Zelda"': f'invalid value for parameter "TimeZone": {shown}',
        'relation "zelda" does not exist': 'relation "zelda" does not exist',
        'column "zelda" of relation "consumer" does not exist': 'column "zelda" of relation "consumer" does not exist',
        'new row violates check constraint "zelda"': 'new row violates check constraint "zelda"',
        "value too long for type character varying(8)": "value too long for type character varying(8)",
    }
    for message, withheld in messages.items():
        assert scrub.for_item({}, None)(message) == withheld, message
    text = (
        'psycopg.errors.InvalidTextRepresentation: invalid input syntax for type uuid: "Zel"\nda"\n'
        "LINE 3: ...x = 'Zel\n          ^\n"
    )
    assert scrub.for_item({}, None)(text) == (
        "psycopg.errors.InvalidTextRepresentation: invalid input syntax for type uuid: "
        "[withheld: a database error's quoted value; SQLSTATE 22P02]\n"
        "LINE 3: [withheld: the statement's text quotes values; SQLSTATE 22P02]\n"
    )
