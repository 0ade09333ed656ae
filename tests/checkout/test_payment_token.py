"""The payment token an order is placed with: a client may send any text the API takes (``paymentToken``, up to
``TPFGO_API_MAX_TEXT_LENGTH`` characters), and the order keeps it whole on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest

from checkout import demo, services
from checkout.initial_order.models import InitialOrder
from checkout.order_request.models import OrderRequest
from pipelines.models import ErrorSinkEntry, ParkedItem
from tests.checkout.conftest import order_body

pytestmark = pytest.mark.django_db


def test_a_payment_token_as_long_as_the_api_takes_is_kept_whole(settings):
    demo.load()
    token = "tok_" + "x" * (settings.TPFGO_API_MAX_TEXT_LENGTH - 4)

    view = services.place_order(order_body(paymentToken=token), "long-token").view

    # The simulated gateway declines a token it does not know: the order ran to its end, nothing parked.
    assert (view["state"], view["stalled"]) == ("REJECTED", None)
    assert OrderRequest.objects.get().payment_token == token
    assert InitialOrder.objects.get().payment_token == token
    assert (ParkedItem.objects.count(), ErrorSinkEntry.objects.count()) == (0, 0)
