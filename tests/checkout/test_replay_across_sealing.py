"""A client's retry of an order placed before its personal data was sealed, by the version after the upgrade.

Such an order's command was hashed with its delivery address (before the address was sealed) or its payment token
(before the token was) in clear; the same body now seals them. Its replay is still the same request: the same
order, nothing stored. Another body under its key is still ``ALREADY_EXISTS``.
"""

from __future__ import annotations

import pytest

from checkout import bulk, services
from checkout.order_request.models import OrderRequest
from pipelines.contracts.status import AlreadyExists
from tests.checkout.erasure_helpers import ADDRESS, make_consumer, personal_body, placed_by_an_older_version
from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db


@pytest.fixture
def zed(demo_data):
    return make_consumer()


@pytest.mark.parametrize("address_sealed", [True, False], ids=["token-in-clear", "address-and-token-in-clear"])
def test_a_retry_of_an_order_placed_before_sealing_answers_the_order_and_stores_nothing(zed, address_sealed):
    body = personal_body(paymentToken="tok_ok")
    placed_by_an_older_version(body, "zed-old", address_sealed=address_sealed)
    stored = OrderRequest.objects.get()
    assert stored.payment_token == "tok_ok"
    assert (stored.delivery_address == ADDRESS) is not address_sealed
    counts = all_insert_only_counts()

    again = services.place_order(personal_body(paymentToken="tok_ok"), "zed-old")
    [batched] = bulk.place_orders([(personal_body(paymentToken="tok_ok"), "zed-old")])

    assert (again.created, again.view["orderId"]) == (False, str(stored.order_id))
    assert isinstance(batched, services.Placed)
    assert (batched.created, batched.view["orderId"]) == (False, str(stored.order_id))
    assert all_insert_only_counts() == counts


@pytest.mark.parametrize("changed", ["paymentToken", "deliveryAddress"])
def test_another_body_under_such_an_orders_key_is_still_refused_and_stores_nothing(zed, changed):
    placed_by_an_older_version(personal_body(paymentToken="tok_ok"), "zed-old", address_sealed=False)
    counts = all_insert_only_counts()
    other = {"paymentToken": "tok_review", "deliveryAddress": {**ADDRESS, "street1": "18 Xylophone Alley"}}[changed]

    body = {**personal_body(paymentToken="tok_ok"), changed: other}

    with pytest.raises(AlreadyExists):
        services.place_order(body, "zed-old")
    [batched] = bulk.place_orders([(body, "zed-old")])

    assert isinstance(batched, AlreadyExists)
    assert all_insert_only_counts() == counts
