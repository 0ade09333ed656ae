"""A UTF-8 byte order mark before a JSON text is read past (RFC 8259 lets a reader ignore it): a REST body, a
FUNCTION body and an NDJSON ingest line that start with one are read as without it; two are refused in the project's
words, nothing stored. A body with one was refused 400 in Python's words (``Unexpected UTF-8 BOM (decode using
utf-8-sig)``)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from checkout import demo, function
from checkout.order_request.models import OrderRequest
from tests.checkout.conftest import order_body
from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db(transaction=True)
BOM = "\ufeff".encode()
TWICE = "a byte order mark (U+FEFF) may come once, before the JSON text; this one has another"


def body(**order: object) -> bytes:
    return json.dumps(order_body(**order)).encode()


def test_a_rest_body_after_a_byte_order_mark_is_read_and_two_marks_are_refused(api):
    demo.load()
    placed = api.post("/api/v1/orders", BOM + body(), content_type="application/json", HTTP_IDEMPOTENCY_KEY="bom-1")
    assert (placed.status_code, placed.json()["state"]) == (201, "COMPLETED")
    replayed = api.post("/api/v1/orders", body(), content_type="application/json", HTTP_IDEMPOTENCY_KEY="bom-1")
    assert (replayed.status_code, replayed["Idempotent-Replayed"]) == (200, "true")  # the same order, mark or not
    rows = all_insert_only_counts()
    refused = api.post(
        "/api/v1/orders", BOM + BOM + body(), content_type="application/json", HTTP_IDEMPOTENCY_KEY="bom-2"
    )
    assert refused.status_code == 400
    assert refused.json()["error"] | {"correlationId": None} == {
        "code": "INVALID_ARGUMENT",
        "message": TWICE,
        "details": [{"field": "body", "issue": "starts with two byte order marks"}],
        "correlationId": None,
    }
    assert all_insert_only_counts() == rows


def test_a_function_body_after_a_byte_order_mark_is_read(api, token):
    demo.load()
    event = {
        "httpMethod": "POST",
        "path": "/api/v1/orders",
        "headers": {"Authorization": f"Token {token}", "Content-Type": "application/json", "Idempotency-Key": "fn"},
        "body": "\ufeff" + body().decode(),
    }
    answer = function.handler(event, None)
    assert (answer["statusCode"], json.loads(answer["body"])["state"]) == (201, "COMPLETED")


def test_an_ndjson_line_after_a_byte_order_mark_is_read_and_two_marks_are_its_own_error(token):
    demo.load()
    lines = [
        BOM + json.dumps({"idempotencyKey": "first", "order": order_body()}).encode(),  # as a file saved with a mark
        BOM + json.dumps({"idempotencyKey": "second", "order": order_body(consumer="bob")}).encode(),
        BOM + BOM + json.dumps({"idempotencyKey": "third", "order": order_body()}).encode(),
    ]
    response = Client().post(
        "/api/v1/orders/ingest",
        b"\n".join(lines) + b"\n",
        content_type="application/x-ndjson",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    answers = [json.loads(raw) for raw in b"".join(response.streaming_content).splitlines()]
    assert [(a["idempotencyKey"], a.get("state"), a.get("error")) for a in answers] == [
        ("first", "COMPLETED", None),
        ("second", "COMPLETED", None),
        (None, None, {"code": "INVALID_ARGUMENT", "message": f"line 3: {TWICE}"}),
    ]
    assert sorted(OrderRequest.objects.values_list("request_id", flat=True)) == ["first", "second"]
