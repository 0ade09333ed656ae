"""On a forked order's lineage page, parked items, failed attempts and waits say their lineage branch, and which of
them the order's view no longer shows, as its checkpoints do."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from checkout import ops_actions, services
from checkout.order_approved.models import OrderApproved
from checkout.ticket_created.models import TicketCreated
from pipelines.models import MAIN_BRANCH, ErrorSinkEntry, ForkedFrom, ParkedItem, WaitOpened
from tests.checkout.conftest import place

pytestmark = pytest.mark.django_db


def fork_from(order_id, checkpoint_id) -> ForkedFrom:
    shown = ops_actions.preview("fork", order_id, checkpoint_id=str(checkpoint_id))
    assert shown["allowed"], shown["why"]
    ops_actions.execute(
        "fork",
        order_id,
        actor="ops",
        reason="re-run",
        expected_seq=shown["expectedSeq"],
        checkpoint_id=str(checkpoint_id),
    )
    return ForkedFrom.objects.get(trace_id=order_id)


def section(page: str, anchor: str) -> str:
    start = page.index(f'id="{anchor}"')
    return page[start : page.index("</div>", start)]


def cells(table: str) -> list[str]:
    """Each body row's text (the first row is the head's)."""
    rows = table.split("<tr")[2:]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", "<tr" + row)).strip() for row in rows]


def test_parked_items_and_failed_attempts_show_their_branch_and_the_superseded_ones(ops_client, dead_order):
    forked = fork_from(dead_order, OrderApproved.objects.get(order_id=dead_order).pk)  # the fork's dispatch parks too
    short = forked.branch[:11] + "…"
    dead = ParkedItem.objects.get(trace_id=dead_order, branch=MAIN_BRANCH)
    retrying = ParkedItem.objects.get(trace_id=dead_order, branch=forked.branch)

    page = ops_client.get(reverse("ops:lineage", args=[dead_order])).content.decode()

    stops = section(page, "stops")
    assert re.findall(r'<li class="stop-(\w+)[^"]*" data-node-id="([^"]+)"', stops) == [("parked", str(retrying.pk))]
    assert f"branch {short}</span>" in stops and "superseded" not in stops
    svg = page.split('<svg class="ops-lineage"', 1)[1].split("</svg>", 1)[0]
    titles = re.findall(r'data-node-id="([^"]+)"[^>]*>\s*<title>[^<]* — branch ([^<]+)</title>', svg)
    assert (str(dead.pk), MAIN_BRANCH) in titles and (str(retrying.pk), forked.branch) in titles
    assert re.search(rf'node-resolved node-superseded[^>]*data-node-id="{dead.pk}"', svg)

    rows = cells(section(page, "failed-attempts"))
    entries = ErrorSinkEntry.objects.filter(trace_id=dead_order)
    on_main = entries.filter(branch=MAIN_BRANCH).count()
    on_fork = entries.filter(branch=forked.branch).count()
    assert on_main >= 1 and on_fork >= 1 and len(rows) == on_main + on_fork
    assert sum(row.endswith("main · superseded") for row in rows) == on_main
    assert sum(row.endswith(short) for row in rows) == on_fork


def test_waits_show_their_branch_and_the_parents_ended_wait_superseded(ops_client, reference_data):
    view = place(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
    order_id = view["orderId"]
    services.reject_ticket(view["kitchenTicketId"], "out of eggs")
    forked = fork_from(order_id, TicketCreated.objects.get(order_id=order_id).pk)
    assert WaitOpened.objects.filter(trace_id=order_id).count() == 2

    page = ops_client.get(reverse("ops:lineage", args=[order_id])).content.decode()

    # pipeline / step, since and first due, how it ended, its branch
    rows = [re.sub(r"\S+ \d\d:\d\d:\d\d ", "", row) for row in cells(section(page, "waits"))]
    assert rows == [
        "restaurant-acceptance / acceptance_decision resolved main · superseded",
        f"restaurant-acceptance / acceptance_decision waiting {forked.branch[:11]}…",
    ]


def test_a_trace_never_forked_shows_no_branch_on_its_stops(ops_client, dead_order):
    page = ops_client.get(reverse("ops:lineage", args=[dead_order])).content.decode()
    stops = section(page, "stops")
    assert stops.count("<li ") == 1 and "branch" not in stops
    assert len(cells(section(page, "failed-attempts"))) == ErrorSinkEntry.objects.filter(trace_id=dead_order).count()
