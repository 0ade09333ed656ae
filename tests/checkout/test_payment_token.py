"""The payment token an order is placed with: kept whole (up to ``TPFGO_API_MAX_TEXT_LENGTH`` characters, as the
API takes it) and sealed with the consumer's key like their address (``checkout.personal``), whether the request
gave it or the consumer's token on file was used; the gateway is handed it in clear. Erasure makes it unreadable
everywhere: an order that still needs it for an authorization is declined (``consumer_erased``), a capture goes on
with the authorization already made."""

from __future__ import annotations

from collections import Counter

import pytest

from checkout import demo, personal, services
from checkout.initial_order.models import InitialOrder
from checkout.models import Consumer
from checkout.order_request.models import OrderRequest
from checkout.payment_authorized.models import PaymentDeclined
from pipelines.models import ErrorSinkEntry, ParkedItem
from pipelines.recovery import retries
from tests.checkout import recording_gateway
from tests.checkout.conftest import checkpoint_types, order_body
from tests.checkout.erasure_helpers import (
    captured_logs,
    make_consumer,
    personal_body,
    placed_by_an_older_version,
    tables_holding_personal_text,
)

pytestmark = pytest.mark.django_db

MANUAL = {"restaurant": "chez-manuel", "items": [{"menuItemId": "crepe", "quantity": 1}]}


@pytest.fixture
def tokens(settings):
    settings.TPFGO_PAYMENT_GATEWAY = "tests.checkout.recording_gateway.TokenGateway"
    recording_gateway.TOKENS.clear()
    yield recording_gateway.TOKENS
    recording_gateway.TOKENS.clear()


@pytest.fixture
def zed(demo_data):
    return make_consumer()


def stored_tokens(order_id: str) -> tuple[str | None, str]:
    return (
        OrderRequest.objects.get(order_id=order_id).payment_token,
        InitialOrder.objects.get(order_id=order_id).payment_token,
    )


def test_a_payment_token_as_long_as_the_api_takes_is_kept_whole(settings, tokens):
    demo.load()
    token = "tok_" + "x" * (settings.TPFGO_API_MAX_TEXT_LENGTH - 4)

    view = services.place_order(order_body(paymentToken=token), "long-token").view

    # The simulated gateway declines a token it does not know: the order ran to its end, nothing parked.
    assert (view["state"], view["stalled"]) == ("REJECTED", None)
    alice = Consumer.objects.get(pk="alice")
    assert [personal.payment_token(alice, stored) for stored in stored_tokens(view["orderId"])] == [token, token]
    assert tokens == [("authorize", token)]
    assert (ParkedItem.objects.count(), ErrorSinkEntry.objects.count()) == (0, 0)


def test_the_requests_token_is_stored_sealed_and_handed_to_the_gateway_in_clear(zed, tokens):
    view = services.place_order(personal_body(paymentToken="tok_ok"), "zed-given").view

    requested, snapshot = stored_tokens(view["orderId"])
    assert requested == snapshot and requested.startswith("sealed:v1:zed:")  # type: ignore[union-attr]
    assert view["state"] == "COMPLETED"
    assert tokens == [("authorize", "tok_ok"), ("capture", "tok_ok")]
    assert tables_holding_personal_text(("tok_ok",)) == {"checkout_consumer": ["tok_ok"]}  # demo consumers' on file


def test_the_token_on_file_is_sealed_when_the_order_takes_it(zed, tokens):
    Consumer.objects.filter(pk="zed").update(payment_token="tok_review")

    view = services.place_order(personal_body(), "zed-on-file").view

    requested, snapshot = stored_tokens(view["orderId"])
    assert requested is None and snapshot.startswith("sealed:v1:zed:")
    assert personal.payment_token(Consumer.objects.get(pk="zed"), snapshot) == "tok_review"
    assert (view["state"], tokens) == ("REVIEW_REQUIRED", [("authorize", "tok_review"), ("capture", "tok_review")])


def test_a_token_stored_in_clear_before_tokens_were_sealed_is_used_as_it_is(zed):
    assert personal.payment_token(zed, "tok_ok") == "tok_ok"
    assert personal.payment_token(None, "tok_ok") == "tok_ok"


def test_after_erasure_the_token_is_nowhere_and_an_authorization_retried_since_is_declined_not_charged(zed, tokens):
    with captured_logs() as logs:
        view = services.place_order(personal_body(paymentToken="tok_flaky_2"), "zed-flaky").view
    assert view["stalled"]["step"] == "payment_authorized"
    assert tables_holding_personal_text(("tok_flaky_2",)) == {}
    assert "tok_flaky_2" not in logs()
    parked = ParkedItem.objects.get(step="payment_authorized")
    personal.erase("zed", actor="ops-anna", reason="request #41")

    assert retries.run_attempt(parked.pk, 2) == "inserted"

    after = services.get_order(view["orderId"])
    assert (after["state"], after["stalled"]) == ("REJECTED", None)
    assert PaymentDeclined.objects.get(order_id=view["orderId"]).decline_code == "consumer_erased"
    assert tokens == [("authorize", "tok_flaky_2")]  # the first attempt only: the retry asked the gateway nothing
    assert personal.payment_token(Consumer.objects.get(pk="zed"), stored_tokens(view["orderId"])[1]) is None


def erased_then_revised_and_accepted(view: dict, tokens: list) -> None:
    """Erase the consumer of an authorized order, then revise it and accept its ticket: the revision's
    re-authorization is declined, the capture runs on the authorization made before (no token sent)."""
    personal.erase("zed", actor="ops-anna", reason="request #41")
    before = checkpoint_types(view["orderId"])

    revised = services.revise_order(view["orderId"], {"items": [{"menuItemId": "crepe", "quantity": 3}]}, "more")
    done = services.accept_ticket(view["kitchenTicketId"])

    assert revised["revision"]["reason"] == "PAYMENT_DECLINED"
    assert checkpoint_types(view["orderId"]) - before >= Counter({"ReauthorizationDeclined": 1, "RevisionRefused": 1})
    assert done["state"] == "COMPLETED"
    assert tokens == [("authorize", "tok_ok"), ("capture", "")]  # captured by the authorization made before


def test_after_erasure_an_authorized_order_is_still_captured_and_a_revision_is_declined(zed, tokens):
    view = services.place_order(personal_body(paymentToken="tok_ok", **MANUAL), "zed-manual").view
    erased_then_revised_and_accepted(view, tokens)


def test_after_erasure_a_token_kept_in_clear_from_before_sealing_is_not_charged_anew_either(zed, tokens):
    placed_by_an_older_version(personal_body(paymentToken="tok_ok", **MANUAL), "zed-old", address_sealed=True)
    view = services.get_order(OrderRequest.objects.get().order_id)
    assert stored_tokens(view["orderId"]) == ("tok_ok", "tok_ok")
    erased_then_revised_and_accepted(view, tokens)
