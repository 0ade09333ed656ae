"""The ops group changes a courier's availability, nothing else of it: not its name or completion mode, and a
changed id in a crafted change POST does not save a new courier (docs/operations.md, "Who may do what")."""

from __future__ import annotations

import pytest
from django.urls import reverse

from checkout.models import Courier

pytestmark = pytest.mark.django_db


def test_the_ops_group_changes_only_a_couriers_availability(ops_client, reference_data):
    before = Courier.objects.get(pk="courier-ann")
    url = reverse("ops:checkout_courier_change", args=[before.pk])
    response = ops_client.post(
        url,
        {
            "id": "courier-zed",
            "name": "Mallory",
            "available": "" if before.available else "on",
            "completion_mode": Courier.MANUAL if before.completion_mode == Courier.AUTO else Courier.AUTO,
        },
    )
    assert response.status_code == 302
    assert not Courier.objects.filter(pk="courier-zed").exists()
    after = Courier.objects.get(pk="courier-ann")
    assert (after.name, after.completion_mode) == (before.name, before.completion_mode)
    assert after.available is not before.available
