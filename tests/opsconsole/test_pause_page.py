"""A pause's own page (where an ops action's pause link lands) says whether the step is still paused."""

from __future__ import annotations

import pytest
from django.urls import reverse

from checkout import services
from pipelines.models import OpsAction, ParkedItem, StepPause
from tests.checkout.conftest import order_body

pytestmark = pytest.mark.django_db


def test_a_pauses_page_says_what_it_holds_and_then_how_it_was_resumed(ops_client, reference_data):
    pauses = reverse("ops:pauses")
    ops_client.post(pauses, {"do": "pause", "step": "dispatch.delivery_assigned", "reason": "night shift"})
    services.place_order(order_body(), "held-1")
    pause = StepPause.objects.get()
    page = reverse("ops:pipelines_steppause_change", args=[pause.pk])
    actions = ops_client.get(reverse("ops:pipelines_opsaction_changelist")).content.decode()
    assert f'<a href="{page}">pause</a>' in actions

    paused = ops_client.get(page).content.decode()
    assert "Paused now: it holds 1 item until it is resumed" in paused

    ops_client.post(pauses, {"do": "resume", "pause": str(pause.pk), "reason": "morning"})
    resumed = ops_client.get(page).content.decode()
    assert "Paused now" not in resumed and "by ops: morning." in resumed and "of the 1 item it held" in resumed
    assert OpsAction.objects.count() == 2


def test_a_held_items_page_links_to_the_pause_holding_it(ops_client, reference_data):
    ops_client.post(reverse("ops:pauses"), {"do": "pause", "step": "dispatch.delivery_assigned", "reason": "night"})
    order = services.place_order(order_body(), "held-2").view["orderId"]
    parked = ParkedItem.objects.get(trace_id=order)
    page = ops_client.get(reverse("ops:pipelines_parkeditem_change", args=[parked.pk])).content.decode()
    pause = reverse("ops:pipelines_steppause_change", args=[StepPause.objects.get().pk])
    assert f'held by a <a class="pause-link" href="{pause}">pause</a> (night) until it is resumed' in page
