"""After a pickup's reassignment (``CourierReassigned``), the delivery is the new courier's: the owner check of
pickup and dropoff follows it (docs/api.md, "Principals and scopes": the delivery's courier)."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from rest_framework.test import APIClient

from access.tokens import create_token
from checkout.courier_reassigned.models import CourierReassigned
from checkout.models import Courier
from checkout.order_picked_up.models import OrderPickedUp
from pipelines.recovery import deadlines
from tests.checkout.conftest import place

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=datetime.UTC)


def at(minutes: float):
    return time_machine.travel(T0 + datetime.timedelta(minutes=minutes), tick=False)


def client(courier: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {create_token(kind='courier', binding=courier).key}")
    return api


def test_a_reassigned_delivery_is_picked_up_by_the_new_courier_and_refused_to_the_old_one(demo_data):
    Courier.objects.filter(completion_mode=Courier.AUTO).update(available=False)
    Courier.objects.filter(id="courier-max").update(available=True)
    with at(0):
        view = place().view
    assert view["state"] == "DISPATCHED"
    Courier.objects.filter(id="courier-ann").update(available=True)
    with at(20.1):
        deadlines.expire(step="order_picked_up")
    moved = CourierReassigned.objects.get(order_id=view["orderId"])
    assert (moved.from_courier_id, moved.courier_id) == ("courier-max", "courier-ann")
    path = f"/api/v1/deliveries/{view['dispatchId']}/pickup"

    with at(21):
        old = client("courier-max").post(path, format="json")
    assert old.status_code == 404, old.content  # no longer theirs: as any other courier's dispatch (docs/api.md)
    assert not OrderPickedUp.objects.filter(order_id=view["orderId"]).exists()

    with at(21):
        new = client("courier-ann").post(path, format="json")
    assert new.status_code == 200, new.content
    assert OrderPickedUp.objects.get(order_id=view["orderId"]).courier_id == "courier-ann"
