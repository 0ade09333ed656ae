"""Checkout fixtures: demo reference data and a helper that places orders through the service."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest

from checkout import demo, services
from pipelines.models import CheckpointLog
from tests.checkout import recording_gateway

_keys = itertools.count(1)

ADDRESS = {"street1": "1 Main St", "city": "Oakland", "state": "CA", "zip": "94612"}


@pytest.fixture
def demo_data(db):
    demo.load()


def order_body(restaurant: str = "pizza-roma", items: Any = None, consumer: str = "alice", **extra: Any) -> dict:
    body = {
        "consumerId": consumer,
        "restaurantId": restaurant,
        "items": items if items is not None else [{"menuItemId": "margherita", "quantity": 2}],
        "deliveryAddress": dict(ADDRESS),
    }
    body.update(extra)
    return body


def place(key: str | None = None, **kwargs: Any) -> services.Placed:
    return services.place_order(order_body(**kwargs), key or f"key-{next(_keys)}")


def checkpoint_types(order_id: str) -> Counter:
    return Counter(CheckpointLog.objects.filter(trace_id=order_id).values_list("checkpoint_type", flat=True))


@pytest.fixture
def gateway(settings):
    """The payment gateway simulator recording every reviewed capture and void it is asked for (``VOIDS``,
    ``CAPTURES``, emptied before and after the test)."""
    settings.TPFGO_PAYMENT_GATEWAY = "tests.checkout.recording_gateway.RecordingGateway"
    recording_gateway.VOIDS.clear()
    recording_gateway.CAPTURES.clear()
    yield recording_gateway
    recording_gateway.VOIDS.clear()
    recording_gateway.CAPTURES.clear()
