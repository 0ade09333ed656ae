"""Erasure from the console: the consumer list's action leads to a page that says what erasure does and asks why;
erasing is an ops action; afterwards the console shows ``[erased]`` wherever it showed the personal data."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from checkout import services
from checkout.cancellation_requested.models import CancellationRequested
from checkout.models import Consumer
from checkout.order_request import step as order_request_step
from checkout.order_request.models import OrderRequest
from pipelines.contracts.status import Unavailable
from pipelines.models import ErrorSinkEntry, OpsAction
from tests.checkout.erasure_helpers import NAME, NOTE, found_in, make_consumer, personal_body
from tests.conftest import all_insert_only_counts
from tests.opsconsole.test_confirm_page import messages_of

pytestmark = pytest.mark.django_db

MANUAL = {"restaurant": "chez-manuel", "items": [{"menuItemId": "crepe", "quantity": 1}]}


@pytest.fixture
def zed_orders(reference_data, monkeypatch):
    """An order cancelled with a note, and one whose first step failed (its sink entry carries the command)."""
    make_consumer()
    placed = services.place_order(personal_body(**MANUAL), "zed-1")
    services.cancel_order(placed.view["orderId"], NOTE)

    def broken(fields, children=()):
        raise ValueError("the order request could not be recorded")

    monkeypatch.setattr(order_request_step, "Output", broken)
    with pytest.raises(Unavailable):
        services.place_order(personal_body(), "zed-broken")


def pages(client) -> dict[str, str]:
    """The console pages that show the consumer's personal data (opened for ops), by what they show."""
    urls = {
        "order request": reverse("ops:order_request_orderrequest_change", args=[OrderRequest.objects.first().pk]),
        "note": reverse(
            "ops:cancellation_requested_cancellationrequested_change", args=[CancellationRequested.objects.get().pk]
        ),
        "sink entry": reverse("ops:pipelines_errorsinkentry_change", args=[ErrorSinkEntry.objects.get().pk]),
        "consumers": reverse("ops:checkout_consumer_changelist"),
    }
    shown = {}
    for what, url in urls.items():
        response = client.get(url)
        assert response.status_code == 200, (what, response.status_code)
        shown[what] = response.content.decode()
    return shown


def test_ops_see_the_opened_data_then_erase_through_the_action_and_the_page_and_see_erased(ops_client, zed_orders):
    before = pages(ops_client)
    assert "Xylophone" in before["order request"] and "Vondracek" in before["note"] and NAME in before["consumers"]
    assert "Xylophone" in before["sink entry"]

    chosen = ops_client.post(
        reverse("ops:checkout_consumer_changelist"), {"action": "erase_personal_data", "_selected_action": ["zed"]}
    )
    assert chosen.status_code == 302 and chosen["Location"] == reverse("ops:erasure", args=["zed"])
    page = ops_client.get(chosen["Location"]).content.decode()
    assert '<strong class="orders">1</strong>' in page and 'name="reason"' in page
    counts = all_insert_only_counts()

    blank = ops_client.post(chosen["Location"], {"reason": "  "})
    assert blank.status_code == 200 and any("reason is required" in m for m in messages_of(blank))
    assert all_insert_only_counts() == counts and Consumer.objects.get(pk="zed").name == NAME

    done = ops_client.post(chosen["Location"], {"reason": "erasure request #41"})
    assert done.status_code == 302 and any("is erased" in m for m in messages_of(done))
    audit = OpsAction.objects.get()
    assert (audit.action, audit.actor, audit.reason) == ("erase-consumer", "ops", "erasure request #41")
    after = pages(ops_client)
    assert {what: found_in(text) for what, text in after.items()} == {what: [] for what in after}
    assert all("[erased]" in text for text in after.values())


def test_a_staff_user_without_the_remediation_permission_cannot_erase(client, zed_orders):
    user = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    client.force_login(user)
    counts = all_insert_only_counts()

    assert client.get(reverse("ops:erasure", args=["zed"])).status_code == 403
    assert client.post(reverse("ops:erasure", args=["zed"]), {"reason": "because"}).status_code == 403
    assert all_insert_only_counts() == counts and Consumer.objects.get(pk="zed").name == NAME


def test_a_superuser_cannot_delete_a_consumer_whose_name_the_history_would_keep(client, zed_orders):
    boss = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(boss)
    before = all_insert_only_counts()

    page = client.get(reverse("ops:checkout_consumer_delete", args=["zed"]))
    posted = client.post(reverse("ops:checkout_consumer_delete", args=["zed"]), {"post": "yes"})
    listed = client.post(
        reverse("ops:checkout_consumer_changelist"), {"action": "delete_selected", "_selected_action": ["zed"]}
    )

    assert (page.status_code, posted.status_code) == (403, 403)
    assert listed.status_code == 302  # an action the list does not offer runs nothing
    assert 'value="delete_selected"' not in client.get(reverse("ops:checkout_consumer_changelist")).content.decode()
    assert Consumer.objects.filter(pk="zed").exists()
    assert all_insert_only_counts() == before


def test_a_second_operator_erasing_the_same_consumer_is_told_who_erased_them(ops_client, zed_orders):
    from django.test import Client

    from tests.opsconsole.conftest import make_ops_user

    erin = Client()
    erin.force_login(make_ops_user("erin"))
    url = reverse("ops:erasure", args=["zed"])
    assert "erasure request #41" not in erin.get(url).content.decode()  # her page, open before the erasure
    ops_client.post(url, {"reason": "erasure request #41"})
    audit = OpsAction.objects.get()
    counts = all_insert_only_counts()

    again = erin.post(url, {"reason": "ticket 7"})
    assert messages_of(again) == [
        f"Consumer zed was already erased by ops at {audit.created_at:%Y-%m-%d %H:%M:%S} UTC (because: erasure "
        f"request #41; ops action {audit.pk}): nothing changed, and your reason was not recorded."
    ]
    assert all_insert_only_counts() == counts
