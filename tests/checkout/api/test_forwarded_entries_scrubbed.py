"""An entry another instance forwards to this one as its central sink (``POST /api/v1/error-sink/entries``,
``ErrorSinkService.Record``): an older release forwards its message and traceback as they were, so the receiving side
replaces every payment token the entry's item leads to by its hint before storing it, through the registered
scrubbers (``pipelines.failures.sinks.store_forwarded``, ``checkout.personal.payment_tokens_to_hide``)."""

from __future__ import annotations

import uuid

import grpc
import pytest
from django.utils import timezone

from pipelines.failures import sinks
from pipelines.models import ErrorSinkEntry
from pipelines.protos import error_sink_pb2_grpc
from tests.checkout.conftest import place

pytestmark = pytest.mark.django_db

URL = "/api/v1/error-sink/entries"
TOKEN = "tok_live_Zq8VxForward4242"
HINT = "…4242"


def forwarded(payload: object, text: str) -> sinks.SinkEntry:
    """An entry as an older instance forwards it: its text quoting the token as the gateway echoed it."""
    return sinks.SinkEntry(
        id=uuid.uuid4(),
        pipeline="consumer-validation",
        step="payment_authorized",
        item_type="InitialOrder",
        item_id=uuid.uuid4(),
        trace_id=uuid.uuid4(),
        error_class="builtins.RuntimeError",
        error_code="UNEXPECTED",
        retryable=True,
        message=text,
        traceback=f"Traceback (most recent call last):\nRuntimeError: {text}\n",
        payload=payload,
        attempt=1,
        created_at=timezone.now(),
        source="edge-old",
    )


def test_the_rest_route_stores_the_token_of_the_order_the_entry_names_as_its_hint(api, demo_data):
    order_id = place(paymentToken=TOKEN).view["orderId"]
    entry = forwarded({"input": {"orderId": order_id}, "event": None}, f"gateway refused source={TOKEN}")

    answer = api.post(URL, entry.as_json(), format="json")

    assert answer.status_code == 201
    stored = ErrorSinkEntry.objects.get()
    assert stored.message == f"gateway refused source={HINT}"
    assert stored.traceback == f"Traceback (most recent call last):\nRuntimeError: gateway refused source={HINT}\n"
    assert (stored.source, stored.step, stored.payload) == ("edge-old", "payment_authorized", entry.payload)


def test_the_grpc_service_stores_the_token_the_entrys_input_holds_as_its_hint(grpc_target, token):
    entry = forwarded({"input": {"paymentToken": TOKEN}}, f'gateway answered 402: {{"value": "{TOKEN}"}}')
    stub = error_sink_pb2_grpc.ErrorSinkServiceStub(grpc.insecure_channel(grpc_target))

    answer = stub.Record(entry.as_message(), metadata=(("authorization", f"Token {token}"),), timeout=5)

    assert answer.created is True
    stored = ErrorSinkEntry.objects.get()
    assert stored.message == f'gateway answered 402: {{"value": "{HINT}"}}' and TOKEN not in stored.traceback


def test_an_entry_whose_item_leads_to_no_token_is_stored_as_it_was_sent(api):
    entry = forwarded({"input": [1, 2]}, "index exploded at tok_live_unknown0000")

    assert api.post(URL, entry.as_json(), format="json").status_code == 201

    stored = ErrorSinkEntry.objects.get()
    assert (stored.message, stored.traceback) == (entry.message, entry.traceback)
