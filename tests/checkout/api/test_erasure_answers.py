"""After erasure, every transport's answers about the consumer's orders are what they were, and none holds the
consumer's name, address or note; an erased consumer's new order is refused the same way on all four."""

from __future__ import annotations

from typing import Any

import pytest

from checkout import demo, personal
from tests.checkout.erasure_helpers import NOTE, found_in, make_consumer, personal_body
from tests.conftest import all_insert_only_counts

NAMES = ("rest", "grpc", "function", "protobuf")
MANUAL = {"restaurant": "chez-manuel", "items": [{"menuItemId": "crepe", "quantity": 1}]}


@pytest.fixture
def ways(transports: dict[str, Any]) -> dict[str, Any]:
    demo.load()
    make_consumer()
    return transports


def answers(ways: dict[str, Any], order_ids: list[str]) -> dict[tuple[str, str, str], Any]:
    """Every transport's order view and lineage of every order, as data, checked for personal text on the way."""
    found = {}
    for name in NAMES:
        for order_id in order_ids:
            for what in ("get", "lineage"):
                result = getattr(ways[name], what)(order_id)
                assert result.code == "OK", (name, what, result)
                assert found_in(result.raw.decode("utf-8", "replace") + repr(result.data)) == [], (name, what)
                found[(name, what, order_id)] = result.data
    return found


def test_every_transport_answers_the_same_without_personal_text_before_and_after_erasure(ways):
    order_ids = [ways[name].create(personal_body(**MANUAL), f"erase-{name}").order["orderId"] for name in NAMES]
    cancelled = ways["rest"].cancel(order_ids[0], NOTE)
    assert cancelled.code == "OK" and found_in(cancelled.raw.decode()) == []
    before = answers(ways, order_ids)

    personal.erase("zed", actor="ops-anna", reason="request #41")

    assert answers(ways, order_ids) == before
    consumers = ways["rest"].send("GET", "/api/v1/consumers")
    assert {"id": "zed", "name": "[erased]", "active": False} in consumers.data["results"]


def test_an_erased_consumers_new_order_is_refused_alike_on_every_transport_and_stores_nothing(ways):
    personal.erase("zed", actor="ops-anna", reason="request #41")
    counts = all_insert_only_counts()

    for name in NAMES:
        refused = ways[name].create(personal_body(), f"after-{name}")
        assert refused.code == "INVALID_ARGUMENT", name
        assert [(d["field"], d["issue"]) for d in refused.data["details"]] == [("consumerId", "consumer erased")], name
    assert all_insert_only_counts() == counts
