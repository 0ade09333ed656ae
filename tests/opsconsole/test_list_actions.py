"""A list's remediation actions: the confirm page takes the selected rows' orders, and says when it cannot take all."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from checkout import services
from checkout.models import Courier
from opsconsole.ops_actions import MAX_ORDERS
from pipelines.models import CheckpointLog, ErrorSinkEntry
from tests.checkout.conftest import order_body

pytestmark = pytest.mark.django_db


def select_every_entry_and_redrive(client):
    return client.post(
        reverse("ops:pipelines_errorsinkentry_changelist"),
        {
            "action": "redrive",
            "select_across": "1",
            "index": "0",
            "_selected_action": [str(ErrorSinkEntry.objects.order_by("-created_at").first().pk)],
        },
    )


@pytest.mark.parametrize(("orders", "warned"), [(MAX_ORDERS, False), (MAX_ORDERS + 1, True)])
def test_selecting_more_orders_than_the_confirm_page_takes_says_so(ops_client, reference_data, orders, warned):
    Courier.objects.update(available=False)
    for n in range(orders):
        services.place_order(order_body(), f"parked-{n}")  # no courier: one error-sink entry each
    before = CheckpointLog.objects.count()

    response = select_every_entry_and_redrive(ops_client)

    assert response.status_code == 302
    path, query = response["Location"].split("?")
    assert path == reverse("ops:remediation", args=["redrive"])
    assert len({uuid.UUID(v) for v in parse_qs(query)["order"]}) == MAX_ORDERS
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert [m for m in said if f"More than {MAX_ORDERS} orders were selected" in m] == (said if warned else [])
    assert len(said) == (1 if warned else 0)
    assert CheckpointLog.objects.count() == before  # nothing runs from the list
