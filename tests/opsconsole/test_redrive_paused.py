"""A redrive of a dead letter whose step is paused: the preview says the attempt will be held, not run, and once
one redrive is held a second (another operator's, a resent form) is refused instead of holding another attempt."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from pipelines.models import OpsAction, PausedItem
from tests.opsconsole.conftest import make_ops_user
from tests.opsconsole.test_confirm_page import confirm_url, preview_seq

pytestmark = pytest.mark.django_db


def test_a_redrive_at_a_paused_step_is_previewed_as_held_and_held_once(ops_client, dead_order):
    ops_client.post("/ops/pauses/", {"do": "pause", "step": "dispatch.delivery_assigned", "reason": "app down"})
    erin = Client()
    erin.force_login(make_ops_user("erin"))

    page = ops_client.get(confirm_url("redrive"), {"order": str(dead_order)}).content.decode()
    assert "PausedItem</strong> — attempt 13 held, not run: dispatch/delivery_assigned is paused (app down)" in page
    assert "DeliveryAssigned" not in page
    seqs = [preview_seq(client, "redrive", dead_order) for client in (ops_client, erin)]

    answers = []
    for client, seq in zip((ops_client, erin), seqs, strict=True):
        form = {"order": str(dead_order), f"expected_seq_{dead_order}": seq, "reason": "courier app is back"}
        answers.append([str(m) for m in get_messages(client.post(confirm_url("redrive"), form).wsgi_request)])

    assert "state READY_FOR_DISPATCH (still stalled)" in answers[0][0]
    assert "refused" in answers[1][0] and "already held by a paused step (app down)" in answers[1][0]
    assert PausedItem.objects.filter(parked__trace_id=dead_order).count() == 1
    assert OpsAction.objects.filter(action="redrive").count() == 1
    again = ops_client.get(confirm_url("redrive"), {"order": str(dead_order)}).content.decode()
    assert "already held by a paused step" in again


def test_a_dead_letter_whose_redrive_is_held_counts_as_held_on_every_screen(ops_client, dead_order):
    ops_client.post("/ops/pauses/", {"do": "pause", "step": "dispatch.delivery_assigned", "reason": "app down"})
    form = {"order": str(dead_order), "reason": "courier app is back"}
    seq = preview_seq(ops_client, "redrive", dead_order)
    ops_client.post(confirm_url("redrive"), {**form, f"expected_seq_{dead_order}": seq})

    page = ops_client.get("/ops/").content.decode()
    row = page[page.index('id="stalled"') : page.index('id="dead-letters"')]
    counts = re.findall(r'<td class="num" data-status="\w+">(?:<a [^>]*>)?(\d+)', row)
    assert counts == ["1", "0", "1", "0"]  # orders, retrying, held by a pause, dead letters
    assert "Dead letters (0)" in page and "Redrive all" not in page
    assert '<td class="num held">1</td>' in pause_page(ops_client)  # held 1, as the dashboard says
    listed = {s: parked_listed(ops_client, s) for s in ("held", "dead", "retrying")}
    assert listed == {"held": 1, "dead": 0, "retrying": 0}
    bulk = ops_client.get("/ops/bulk/redrive/", {"state": "dead_letter"}).content.decode()
    assert "Redrive: 0 orders" in bulk


def pause_page(client) -> str:
    return client.get("/ops/pauses/").content.decode()


def parked_listed(client, status: str) -> int:
    page = client.get("/ops/pipelines/parkeditem/", {"status": status}).content.decode()
    return len(set(re.findall(r'href="/ops/pipelines/parkeditem/([0-9a-f-]{36})/change/', page)))


def test_assigning_a_courier_at_a_paused_dispatch_is_previewed_as_held(ops_client, dead_order):
    ops_client.post("/ops/pauses/", {"do": "pause", "step": "dispatch.delivery_assigned", "reason": "app down"})
    query = {"order": str(dead_order), "courier_id": "courier-ann"}
    page = ops_client.get(confirm_url("assign-courier"), query).content.decode()
    assert "PausedItem</strong> — attempt 13 held, not run: dispatch/delivery_assigned is paused (app down)" in page
    assert "DeliveryAssigned" not in page

    seq = preview_seq(ops_client, "assign-courier", dead_order, courier_id="courier-ann")
    ops_client.post(confirm_url("assign-courier"), {**query, f"expected_seq_{dead_order}": seq, "reason": "ann"})
    assert OpsAction.objects.get(action="assign-courier").result["redrive"]["status"] == "paused"
    assert PausedItem.objects.filter(parked__trace_id=dead_order).count() == 1


def test_the_metrics_count_a_held_redrive_as_paused_as_the_dashboard_does(ops_client, dead_order):
    from pipelines.recovery import backlog

    ops_client.post("/ops/pauses/", {"do": "pause", "step": "dispatch.delivery_assigned", "reason": "app down"})
    seq = preview_seq(ops_client, "redrive", dead_order)
    form = {"order": str(dead_order), f"expected_seq_{dead_order}": seq, "reason": "courier app is back"}
    ops_client.post(confirm_url("redrive"), form)

    figures = {name: value for name, labels, value in backlog.collect() if labels.get("step") == "delivery_assigned"}
    assert figures == {"tpfgo_parked_paused": 1.0}  # not tpfgo_dead_letters: its alert names an empty list


def test_a_dead_letter_whose_redrive_is_held_reads_held_on_its_lineage_and_in_the_order_view(ops_client, dead_order):
    from checkout import order_view, state

    ops_client.post("/ops/pauses/", {"do": "pause", "step": "dispatch.delivery_assigned", "reason": "app down"})
    seq = preview_seq(ops_client, "redrive", dead_order)
    form = {"order": str(dead_order), f"expected_seq_{dead_order}": seq, "reason": "courier app is back"}
    ops_client.post(confirm_url("redrive"), form)

    stalled = order_view.render(state.order_view(dead_order))["stalled"]
    assert (stalled["deadLettered"], stalled["message"]) == (False, "PAUSED: app down")
    page = ops_client.get(f"/ops/lineage/{dead_order}/").content.decode()
    badge = page[page.index('id="order-state"') : page.index('id="remediation"')]
    assert "held by a pause" in badge and "dead letter" not in badge
    stops = page[page.index('id="stops"') : page.index("<h2>Lineage</h2>")]
    assert stops.count('class="stop-parked"') == 1 and "stop-dead" not in stops
    assert "held by a pause: app down (a redrive of its dead letter)" in stops
    assert 'class="node node-dead' not in page
    remedies = " ".join(page[page.index('id="remediation"') : page.index('id="stops"')].split())
    assert "Redrive</strong>: does not apply, a redrive of dispatch/delivery_assigned is already held" in remedies, (
        remedies
    )
    parked = ops_client.get("/ops/pipelines/parkeditem/", {"status": "held"}).content.decode()
    assert "held by a pause (a redrive of its dead letter)" in parked
    item = PausedItem.objects.get(parked__trace_id=dead_order).parked_id
    history = " ".join(ops_client.get(f"/ops/pipelines/parkeditem/{item}/change/").content.decode().split())
    assert "dead_lettered (retry_exhausted)" in history  # the ledger's outcome, as stored
    assert "Since then: a redrive of attempt 13 is held by a" in history
