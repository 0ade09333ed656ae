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
