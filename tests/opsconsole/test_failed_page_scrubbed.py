"""A console page that raises is logged twice with its traceback (django-structlog's ``request_failed``, Django's
"Internal Server Error" on ``django.request``); both name the payment tokens the request leads to by their hint only:
its address's consumer, its admin page's order, its form body (``tpfgo_site/scrubbed_logs.py``)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from checkout import personal, services
from checkout.initial_order.models import InitialOrder
from checkout.models import Consumer
from opsconsole import erasure_views
from tests.checkout.erasure_helpers import captured_logs, make_consumer, personal_body
from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db

TOKEN = "tok_live_Zq8VxEchoed4242"
HINT = "…4242"


def raising(*args: object, **kwargs: object) -> None:
    raise RuntimeError(f"gateway said: unknown card {TOKEN}")


def failed_lines(client, method: str, url: str, **data: str) -> tuple[str, list[dict]]:
    """The page's 500, and every log line that carries a traceback."""
    client.raise_request_exception = False
    with captured_logs() as logged:
        response = getattr(client, method)(url, data)
    assert response.status_code == 500
    lines = [line for line in map(json.loads, logged().splitlines()) if "exception" in line]
    return logged(), lines


def assert_scrubbed(logged: str, lines: list[dict]) -> None:
    assert TOKEN not in logged
    assert sorted(line.get("logger") for line in lines) == ["django.request", "django_structlog.middlewares.request"]
    for line in lines:
        assert "Traceback" in line["exception"] and f"unknown card {HINT}" in line["exception"], line


def test_the_token_on_file_of_the_consumer_the_address_names_is_logged_as_its_hint(
    ops_client, reference_data, monkeypatch
):
    make_consumer()
    Consumer.objects.filter(pk="zed").update(payment_token=TOKEN)
    monkeypatch.setattr(erasure_views, "page", raising)
    assert_scrubbed(*failed_lines(ops_client, "get", reverse("ops:erasure", args=["zed"])))


def test_the_token_of_the_order_an_admin_page_shows_is_logged_as_its_hint(ops_client, reference_data, monkeypatch):
    make_consumer()
    services.place_order(personal_body(paymentToken=TOKEN), "zed-1")
    url = reverse("ops:initial_order_initialorder_change", args=[InitialOrder.objects.get().pk])
    monkeypatch.setattr(personal, "shown", raising)
    assert_scrubbed(*failed_lines(ops_client, "get", url))


def test_the_token_in_a_form_body_is_logged_as_its_hint_and_nothing_is_stored(ops_client, reference_data, monkeypatch):
    monkeypatch.setattr(erasure_views, "page", raising)
    before = all_insert_only_counts()
    logged, lines = failed_lines(ops_client, "post", reverse("ops:erasure", args=["nobody"]), payment_token=TOKEN)
    assert_scrubbed(logged, lines)
    assert all_insert_only_counts() == before


def test_the_token_of_the_order_a_remediation_form_names_is_logged_as_its_hint(ops_client, reference_data, monkeypatch):
    make_consumer()
    order_id = services.place_order(personal_body(paymentToken=TOKEN), "zed-1").view["orderId"]
    monkeypatch.setattr(erasure_views, "page", raising)
    assert_scrubbed(*failed_lines(ops_client, "post", reverse("ops:erasure", args=["nobody"]), order=order_id))


def test_a_refusal_of_postgresql_quoting_a_consumer_forms_row_is_logged_with_the_row_withheld(client, reference_data):
    """A real refusal at the database edge: PostgreSQL's check violation quotes the failing row, the name, token and
    personal key included; both lines withhold that detail and keep its class, SQLSTATE and constraint (SQLite's
    names only the constraint)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

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
    assert sorted(line.get("logger") for line in lines) == ["django.request", "django_structlog.middlewares.request"]
    for line in lines:
        assert (
            'psycopg.errors.CheckViolation: new row for relation "checkout_consumer" violates check constraint '
            '"refused_name"\nDETAIL:  [withheld: a database error\'s detail quotes the values of a row; SQLSTATE 23514]'
        ) in line["exception"]
    assert Consumer.objects.get(pk="zed").payment_token == ""


def test_when_the_tokens_cannot_be_looked_up_both_tracebacks_are_withheld_after_one_scrub_failed_line(
    ops_client, reference_data, monkeypatch
):
    """What the runbook's ``error_sink.scrub_failed`` row says of a console page's error."""
    from pipelines.failures import scrub

    def unreachable(snapshot: object, event: object) -> dict:
        raise ConnectionError("the database is unreachable")

    monkeypatch.setattr(scrub, "_finders", [unreachable])
    monkeypatch.setattr(erasure_views, "page", raising)
    logged, lines = failed_lines(ops_client, "get", reverse("ops:erasure", args=["zed"]))
    assert TOKEN not in logged
    events = [json.loads(line)["event"] for line in logged.splitlines()]
    assert events.count("error_sink.scrub_failed") == 1
    assert [line["event"] for line in lines] == ["request_failed", "Internal Server Error: /ops/erasure/zed/"]
    assert [line["exception"] for line in lines] == [scrub.WITHHELD, scrub.WITHHELD]
