"""A console page that raises is logged twice with its traceback (django-structlog's ``request_failed``, Django's
"Internal Server Error" on ``django.request``). A page may read many orders' and consumers' tokens without its request
naming any (a list), so both lines name each exception by its class only, its frames kept
(``tpfgo_site/scrubbed_logs.py``).

The errors are real ones from the database's side: PostgreSQL reads the consumers through a view whose token column
passes a function that refuses a live token quoting it, as a dependency's error quotes what it was handed, and a
check constraint refuses a consumer form's row."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.db import connection
from django.urls import reverse

from checkout.models import Consumer
from tests.checkout.erasure_helpers import captured_logs, make_consumer
from tests.conftest import all_insert_only_counts

TOKEN = "tok_live_Zq8VxEchoed4242"
HINT = "…4242"
QUOTED = ("Zq8VxEchoed", HINT, "unknown card")  # the token, its hint, the message quoting it


@pytest.fixture
def echoing_database(transactional_db: object, reference_data: None) -> Iterator[None]:
    """Consumer ``zed`` with ``TOKEN`` on file, read through a view that raises ``unknown card <token>`` for it.
    Transactional: a page's failed read outside a transaction must not leave the test's own one aborted."""
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL function raises the error quoting the token")
    make_consumer()
    Consumer.objects.filter(pk="zed").update(payment_token=TOKEN)
    columns = ", ".join(
        "unknown_card(payment_token) AS payment_token" if field.column == "payment_token" else field.column
        for field in Consumer._meta.concrete_fields
    )
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE checkout_consumer RENAME TO checkout_consumer_rows")
        cursor.execute(
            "CREATE FUNCTION unknown_card(token text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN "
            "IF token LIKE 'tok_live_%' THEN RAISE EXCEPTION 'gateway said: unknown card %', token; END IF; "
            "RETURN token; END $$"
        )
        cursor.execute(f"CREATE VIEW checkout_consumer AS SELECT {columns} FROM checkout_consumer_rows")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP VIEW checkout_consumer")
            cursor.execute("DROP FUNCTION unknown_card(text)")
            cursor.execute("ALTER TABLE checkout_consumer_rows RENAME TO checkout_consumer")


def failed_lines(client, method: str, url: str, **data: str) -> tuple[str, list[dict]]:
    """The page's 500, and every log line that carries a traceback."""
    client.raise_request_exception = False
    with captured_logs() as logged:
        response = getattr(client, method)(url, data)
    assert response.status_code == 500
    lines = [line for line in map(json.loads, logged().splitlines()) if "exception" in line]
    return logged(), lines


def assert_by_class(logged: str, lines: list[dict], last: str) -> None:
    """Both lines: the traceback's frames, each exception by its class, ``last`` the one the page raised."""
    assert [piece for piece in (TOKEN, *QUOTED) if piece in logged] == []
    assert sorted(line.get("logger") for line in lines) == ["django.request", "django_structlog.middlewares.request"]
    for line in lines:
        assert line["exception"].startswith("Traceback (most recent call last):\n  File "), line
        assert line["exception"].endswith(f"\n{last}"), line


def test_a_console_page_logs_its_error_by_class_only_whether_or_not_it_names_the_consumer(ops_client, echoing_database):
    """The consumers' list names none of the consumers it reads, so no look-up by what the request names could find
    the token; the erasure page names the consumer in its address, and its form the token in its body. One
    transactional test for the three (each flush of the database costs seconds)."""
    before = all_insert_only_counts()
    pages = [
        ("get", reverse("ops:checkout_consumer_changelist"), {}),
        ("get", reverse("ops:erasure", args=["zed"]), {}),
        ("post", reverse("ops:erasure", args=["zed"]), {"reason": "asked", "payment_token": TOKEN}),
    ]
    for method, url, data in pages:
        logged, lines = failed_lines(ops_client, method, url, **data)
        assert_by_class(logged, lines, "django.db.utils.ProgrammingError")
        assert all("\npsycopg.errors.RaiseException\n" in line["exception"] for line in lines), url
    assert all_insert_only_counts() == before  # no erasure's audit row


@pytest.mark.django_db
def test_a_refusal_of_postgresql_quoting_a_consumer_forms_row_is_logged_by_class_only(client, reference_data):
    """PostgreSQL's check violation quotes the failing row, the name, token and personal key included."""
    from django.contrib.auth import get_user_model

    if connection.vendor != "postgresql":
        pytest.skip("SQLite's check violation quotes no row")
    client.force_login(get_user_model().objects.create_superuser("root", password="x-root-password-1"))
    make_consumer()
    with connection.cursor() as cursor:  # the test's transaction rolls it back
        cursor.execute("ALTER TABLE checkout_consumer ADD CONSTRAINT refused_name CHECK (name <> 'Refused')")
    logged, lines = failed_lines(
        client,
        "post",
        reverse("ops:checkout_consumer_change", args=["zed"]),
        id="zed",
        name="Refused",
        payment_token=TOKEN,
    )
    key = bytes(Consumer.objects.get(pk="zed").personal_key or b"").hex()
    assert [value for value in (TOKEN, HINT, "Refused", key[:16], "Failing row") if value in logged] == []
    assert_by_class(logged, lines, "django.db.utils.IntegrityError")
    for line in lines:
        assert "\npsycopg.errors.CheckViolation\n" in line["exception"]
    assert Consumer.objects.get(pk="zed").payment_token == ""
