"""A pause's drain on the console, read on a node whose clock is off: releases are due by the database's clock, and
the pages count what is drained by that clock."""

from __future__ import annotations

from django.urls import reverse

from checkout import services
from pipelines import composition, drain, pausing
from pipelines.models import PauseRelease, StepPause
from tests.checkout.conftest import order_body
from tests.conftest import node_clock


def test_a_released_item_shows_drained_on_a_console_node_whose_clock_is_behind(ops_client, reference_data):
    paused = pausing.pause(composition(), "dispatch", "delivery_assigned", actor="ops:erin", reason="rework")
    services.place_order(order_body(), "held-1")  # held at the paused step
    pausing.resume(paused.id, actor="ops:erin", reason="done")
    assert drain.release(paused.id) == 1 and PauseRelease.objects.count() == 1

    with node_clock(-15):  # the console's node; before: the release looked 15 minutes away, none drained
        standing = ops_client.get(reverse("ops:pipelines_steppause_change", args=[paused.id])).content.decode()
        listed = ops_client.get(reverse("ops:pauses")).content.decode()

    assert "Drained 1 of the 1 item it held." in standing
    assert '<td class="num drained">1 / 1</td>' in listed
    assert StepPause.objects.count() == 1
