"""The console's screens through the Django test client: dashboard, browsing, triage, lineage."""

from __future__ import annotations

import datetime
import re
import uuid

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import formats, timezone
from rest_framework.test import APIClient

from access.tokens import create_token
from checkout import services
from checkout.kitchen_task.models import KitchenTask
from checkout.models import Courier
from checkout.order_request.models import OrderRequest
from checkout.order_view import OrderView, render
from opsconsole import readonly
from pipelines.models import (
    CheckpointLog,
    ErrorSinkEntry,
    LineageLink,
    OpenParked,
    ParkedItem,
    RetryTakeover,
    SubscriberLease,
    SweepDispatch,
)
from pipelines.recovery import retention, retries
from tests.checkout.conftest import order_body
from tests.opsconsole.conftest import forwarded_entry

pytestmark = pytest.mark.django_db


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_the_dashboard_shows_the_funnel_stalled_orders_dead_letters_and_error_groups(ops_client, dead_order):
    services.place_order(order_body(), "happy-1")  # no courier: parks too, still retrying
    page = text(ops_client.get(reverse("ops:index")))
    funnel = page[page.index('id="funnel"') :]
    assert re.search(
        r'data-checkpoint="OrderRequest"><th scope="row">OrderRequest</th>(\s*<td class="num zero">0</td>){6}'
        r'\s*<td class="num">2</td>',
        funnel,
    )
    assert 'data-checkpoint="OrderReadyForDispatch"' in funnel and 'data-checkpoint="DeliveryAssigned"' not in funnel
    stalled = page[page.index('id="stalled"') : page.index('id="dead-letters"')]
    row = re.search(r'<tr data-step="dispatch/delivery_assigned">(.*?)</tr>', stalled, re.S)
    assert row
    cells = re.findall(r'<td class="num" data-status="(\w+)">(?:<a [^>]*>)?(\d+)', row.group(1))
    assert cells == [("open", "2"), ("retrying", "1"), ("held", "0"), ("dead", "1")]
    dead = page[page.index('id="dead-letters"') : page.index('id="overdue"')]
    assert f'data-trace="{dead_order}"' in dead and "retry_exhausted" in dead
    assert f"{reverse('ops:remediation', args=['redrive'])}?order={dead_order}" in dead
    groups = page[page.index('id="error-groups"') : page.index('id="funnel"')]
    assert "NoCourierAvailable" in groups


def test_an_unclaimed_retry_past_due_shows_as_overdue(ops_client, reference_data, settings):
    settings.TPFGO_SWEEP_GRACE_SECONDS = 0  # the retry (due a millisecond after its failure) is late at once
    placed = services.place_order(order_body(), "late-1")  # nothing parked
    services.place_order(order_body(paymentToken="tok_down"), "late-2")  # the gateway is down: parked
    page = text(ops_client.get(reverse("ops:index")))
    overdue = page[page.index('id="overdue"') : page.index('id="error-groups"')]
    assert "consumer-validation / payment_authorized" in overdue and placed.view["orderId"][:8] not in overdue
    assert "unclaimed &gt; 0 s past due" in overdue  # the sweeper's grace, which tpfgo_parked_overdue reads too


def test_checkpoint_search_by_order_trace_and_idempotency_key_links_to_the_lineage(ops_client, dead_order):
    changelist = reverse("ops:order_request_orderrequest_changelist")
    request = OrderRequest.objects.get(order_id=dead_order)
    lineage = reverse("ops:lineage", args=[dead_order])
    for term in (str(dead_order), str(request.trace_id), request.idempotency_key, str(request.pk)):
        page = text(ops_client.get(changelist, {"q": term}))
        assert lineage in page and str(request.pk) in page, term
    assert lineage not in text(ops_client.get(changelist, {"q": "no-such-key"}))
    assert lineage not in text(ops_client.get(changelist, {"q": str(uuid.uuid4())}))
    tasks = text(ops_client.get(reverse("ops:kitchen_task_kitchentask_changelist"), {"q": str(dead_order)}))
    assert tasks.count(lineage) == KitchenTask.objects.filter(order_id=dead_order).count() == 2


def test_log_and_lineage_search_finds_an_id_within_its_trace(ops_client, dead_order):
    """The log and the lineage index their ids after the trace: an id is looked for in the trace it belongs to."""
    lineage = reverse("ops:lineage", args=[dead_order])
    log = reverse("ops:pipelines_checkpointlog_changelist")
    links = reverse("ops:pipelines_lineagelink_changelist")
    tasks = list(KitchenTask.objects.filter(order_id=dead_order))
    request = OrderRequest.objects.get(order_id=dead_order)
    in_trace = CheckpointLog.objects.filter(trace_id=dead_order)

    def edges(checkpoint_id):
        return LineageLink.objects.filter(Q(child_id=checkpoint_id) | Q(parent_id=checkpoint_id)).count()

    assert text(ops_client.get(log, {"q": str(tasks[0].pk)})).count(lineage) == 1
    assert text(ops_client.get(log, {"q": str(dead_order)})).count(lineage) == in_trace.count()
    assert edges(tasks[0].pk) == 2  # its link to the split's input, and the merge's link to it
    parent = LineageLink.objects.get(child_id=tasks[0].pk).parent_id
    assert edges(parent) == 1 + len(tasks)  # its own link to its input, and one to each task
    for checkpoint_id in (tasks[0].pk, parent, request.pk):
        assert text(ops_client.get(links, {"q": str(checkpoint_id)})).count(lineage) == edges(checkpoint_id)
    for page in (log, links):
        assert lineage not in text(ops_client.get(page, {"q": str(uuid.uuid4())}))


def test_changelists_never_count_the_whole_table_and_leave_payloads_in_the_database(ops_client, dead_order):
    for name in ("pipelines_errorsinkentry", "pipelines_checkpointlog", "order_request_orderrequest"):
        with CaptureQueriesContext(connection) as captured:
            text(ops_client.get(reverse(f"ops:{name}_changelist")))
        counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
        assert counts, name
        assert all("LIMIT" in sql.upper() for sql in counts), counts
        # The date drill-down reads the first and last created_at, never the distinct dates of the table.
        assert not any("DISTINCT" in q["sql"].upper() for q in captured.captured_queries), name
    with CaptureQueriesContext(connection) as captured:
        text(ops_client.get(reverse("ops:pipelines_errorsinkentry_changelist")))
    selects = [q["sql"] for q in captured.captured_queries if "pipelines_errorsinkentry" in q["sql"]]
    assert selects and not any('"traceback"' in sql or '"payload"' in sql for sql in selects)


def test_no_changelist_offers_or_runs_filter_counts_over_the_whole_table(ops_client, dead_order):
    """Django's facets ("Show counts", ``?_facets=True``) count every filter choice over the whole table."""
    for name in ("pipelines_errorsinkentry", "pipelines_parkeditem", "pipelines_opsaction", "pipelines_sweepdispatch"):
        assert "_facets=True" not in text(ops_client.get(reverse(f"ops:{name}_changelist"))), name
        with CaptureQueriesContext(connection) as captured:
            text(ops_client.get(reverse(f"ops:{name}_changelist"), {"_facets": "True"}))
        counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
        assert counts and all("LIMIT" in sql.upper() for sql in counts), counts


def test_the_paginator_counts_at_most_its_cap(monkeypatch, dead_order):
    monkeypatch.setattr(readonly, "COUNT_CAP", 5)
    paginator = readonly.CappedCountPaginator(CheckpointLog.objects.order_by("seq"), 2)
    assert CheckpointLog.objects.count() > 5
    assert paginator.count == 5 and paginator.num_pages == 3


def test_the_error_sink_detail_is_the_triage_screen(ops_client, dead_order):
    entry = ErrorSinkEntry.objects.filter(trace_id=dead_order).order_by("-attempt").first()
    page = text(ops_client.get(reverse("ops:pipelines_errorsinkentry_change", args=[entry.pk])))
    assert "Traceback (most recent call last)" in page and "NoCourierAvailable" in page
    assert "&quot;input&quot;" in page  # the payload, as JSON
    assert reverse("ops:lineage", args=[dead_order]) in page
    assert "READY_FOR_DISPATCH" in page and "dead letter" in page
    attempts = ErrorSinkEntry.objects.filter(trace_id=dead_order).count()
    assert page.count(reverse("ops:pipelines_errorsinkentry_change", args=[entry.pk])) >= 1
    assert f"after {attempts} attempt" in page
    assert f"{reverse('ops:remediation', args=['redrive'])}?order={dead_order}" in page


def test_the_dashboards_dead_letters_and_the_error_groups_name_the_code_the_runbook_rows_are_keyed_by(
    ops_client, dead_order
):
    """docs/operations.md's runbook sends an operator from a dead letter or an error group to "that code's row":
    both name the code (the message and the class alone do not: ``NoCourierAvailable: no courier available``)."""
    page = text(ops_client.get(reverse("ops:index")))
    dead = page[page.index('id="dead-letters"') : page.index('id="overdue"')]
    row = re.search(rf'<tr class="dead-letter" data-trace="{dead_order}">(.*?)</tr>', dead, re.S)
    assert row and '<span class="error-code">NO_COURIER_AVAILABLE</span>' in row.group(1)
    groups = text(ops_client.get(reverse("ops:error_groups")))
    assert re.findall(r'<td class="error-code">([^<]*)</td>', groups) == ["NO_COURIER_AVAILABLE"]


def test_the_grouped_error_view_counts_distinct_items(ops_client, dead_order):
    services.place_order(order_body(), "second-1")  # a second item failing the same way
    page = text(ops_client.get(reverse("ops:error_groups"), {"window": "all"}))
    entries = ErrorSinkEntry.objects.filter(step="delivery_assigned").count()
    assert re.search(
        rf"<td>dispatch</td><td>delivery_assigned</td><td>checkout\.delivery_assigned\.step\.NoCourierAvailable</td>"
        rf'<td class="error-code">NO_COURIER_AVAILABLE</td><td class="num">2</td>\s*<td class="num">{entries}</td>',
        page,
    )
    assert "error_class=checkout.delivery_assigned.step.NoCourierAvailable" in page


def test_error_sink_actions_open_the_confirm_page_and_run_nothing(ops_client, dead_order):
    entries = ErrorSinkEntry.objects.filter(trace_id=dead_order)
    before = CheckpointLog.objects.count()
    response = ops_client.post(
        reverse("ops:pipelines_errorsinkentry_changelist"),
        {"action": "redrive", "_selected_action": [str(e.pk) for e in entries]},
    )
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('ops:remediation', args=['redrive'])}?order={dead_order}"
    assert CheckpointLog.objects.count() == before


def test_the_lineage_picture_shows_the_split_the_merge_and_where_the_order_stopped(ops_client, dead_order):
    page = text(ops_client.get(reverse("ops:lineage", args=[dead_order])))
    start = page.index('<svg class="ops-lineage"')
    svg = page[start : page.index("</svg>", start)]
    rows = CheckpointLog.objects.filter(trace_id=dead_order)
    assert svg.count('class="node node-') == rows.count() + 1  # every checkpoint, plus the parked item
    for row in rows:
        assert f'data-node-id="{row.checkpoint_id}"' in svg
    tasks = re.findall(r'data-type="KitchenTask".*?<rect x="(\d+)" y="(\d+)"', svg, re.S)
    assert len(tasks) == 2 and tasks[0][1] == tasks[1][1] and tasks[0][0] != tasks[1][0]  # split: one row
    merge = re.search(r'data-type="OrderReadyForDispatch".*?<rect x="(\d+)" y="(\d+)"', svg, re.S)
    assert merge and int(merge.group(2)) > int(tasks[0][1])
    assert len(re.findall(r'class="edge edge-flow"', svg)) == rows.count() - 1 + 1  # the merge has two parents
    parked = ParkedItem.objects.get(trace_id=dead_order)
    assert 'class="node node-dead"' in svg and reverse("ops:pipelines_parkeditem_change", args=[parked.pk]) in svg
    assert 'class="edge edge-stop"' in svg
    assert "decided_by=ACCEPTED" in svg and "claimed_by=KITCHEN" in svg
    for band in ("checkout", "consumer-validation", "restaurant-acceptance", "kitchen-preparation"):
        assert f">{band}</text>" in svg


def test_the_lineage_of_any_id_redirects_to_its_trace(ops_client, dead_order):
    task = KitchenTask.objects.filter(order_id=dead_order).first()
    response = ops_client.get(reverse("ops:lineage_of"), {"id": str(task.pk)})
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('ops:lineage', args=[dead_order])}?highlight={task.pk}"
    page = text(ops_client.get(response["Location"]))
    assert "node-highlight" in page
    assert ops_client.get(reverse("ops:lineage_of"), {"id": str(uuid.uuid4())}).status_code == 404
    assert ops_client.get(reverse("ops:lineage_of"), {"id": "nope"}).status_code == 404
    assert ops_client.get(reverse("ops:lineage", args=[uuid.uuid4()])).status_code == 404


def test_the_lineage_of_a_purged_order_says_when_it_was_purged(ops_client, reference_data):
    order_id = services.place_order(order_body(), "console-purged").view["orderId"]
    later = timezone.now() + datetime.timedelta(days=400)
    assert retention.purge(actor="console test", policies=["orders"], now=later)[0].items == 1
    response = ops_client.get(reverse("ops:lineage_of"), {"id": order_id})
    assert response.status_code == 302 and response["Location"].startswith(reverse("ops:lineage", args=[order_id]))
    page = ops_client.get(response["Location"])
    body = page.content.decode()
    assert page.status_code == 410
    assert f"was purged on {later:%Y-%m-%d}" in body and "<code>console-purged</code>" in body


def test_the_date_drill_down_narrows_by_calendar_period(ops_client, dead_order):
    changelist = reverse("ops:order_request_orderrequest_changelist")
    created = OrderRequest.objects.get(order_id=dead_order).created_at
    page = text(ops_client.get(changelist))
    assert f"created_at__day={created.day}" in page  # one month of rows: it opens at that month's days
    day = {"created_at__year": created.year, "created_at__month": created.month, "created_at__day": created.day}
    assert reverse("ops:lineage", args=[dead_order]) in text(ops_client.get(changelist, day))
    other = {"created_at__year": created.year - 1}
    assert reverse("ops:lineage", args=[dead_order]) not in text(ops_client.get(changelist, other))


def test_the_lineage_page_and_the_funnel_show_every_revision(ops_client, reference_data):
    body = order_body(restaurant="chez-manuel", items=[{"menuItemId": "crepe", "quantity": 1}])
    order_id = services.place_order(body, "revised-1").view["orderId"]
    items = {"items": [{"menuItemId": "omelette", "quantity": 2}]}
    services.revise_order(order_id, items, "rev-1")
    services.revise_order(order_id, {"items": [{"menuItemId": "crepe", "quantity": 3}]}, "rev-2")

    page = text(ops_client.get(reverse("ops:lineage", args=[order_id])))
    start = page.index('<svg class="ops-lineage"')
    svg = page[start : page.index("</svg>", start)]
    rows = CheckpointLog.objects.filter(trace_id=order_id)
    assert svg.count('class="node node-') == rows.count()
    assert svg.count('data-type="RevisionRequested"') == svg.count('data-type="RevisedTicket"') == 2
    assert ">order-revision</text>" in svg and "decided_by=REVISED" in svg
    funnel = text(ops_client.get(reverse("ops:index")))
    funnel = funnel[funnel.index('id="funnel"') :]
    assert re.search(
        r'data-checkpoint="RevisedOrder"><th scope="row">RevisedOrder</th>(\s*<td class="num zero">0</td>){6}'
        r'\s*<td class="num">1</td>',  # one order, revised twice: the funnel counts orders
        funnel,
    )


def test_the_subscribers_list_shows_each_subscribers_publication_position_and_lag(ops_client, reference_data):
    from pipelines.transport import subscriptions

    services.place_order(order_body(), "sub-1")
    services.place_order(order_body(), "sub-2")
    ready = list(CheckpointLog.objects.filter(publication="tpfgo.checkout.order-ready.v1").order_by("seq"))
    subscriptions.acknowledge("warehouse", "tpfgo.checkout.order-ready.v1", ready[0].seq)
    subscriptions.acknowledge("warehouse", "tpfgo.checkout.order-ready.v1", ready[1].seq)
    subscriptions.open_follow("tpfgo.order.terminal-state.v1", subscriber="marketing")
    head = CheckpointLog.objects.order_by("-seq")[0].seq
    page = text(ops_client.get(reverse("ops:pipelines_subscriber_changelist")))
    rows = re.findall(r"<tr>.*?</tr>", page, re.S)
    cells = [re.sub(r"<[^>]+>", "|", row) for row in rows if "warehouse" in row or "marketing" in row]
    assert len(cells) == 2
    [warehouse, marketing] = cells  # ordered by publication
    assert "tpfgo.order.terminal-state.v1" in marketing and f"|{head}|" in marketing and "never" in marketing
    assert "tpfgo.checkout.order-ready.v1" in warehouse
    assert f"|{ready[1].seq}|" in warehouse and f"|{head - ready[1].seq}|" in warehouse


def subscriber_rows(page: str, *names: str) -> list[str]:
    """The changelist rows of the subscribers ``names``, in page order, their cells split by ``|``."""
    rows = re.findall(r"<tr>.*?</tr>", page, re.S)
    return [re.sub(r"<[^>]+>", "|", row) for row in rows if any(f">{name}<" in row for name in names)]


def test_the_subscribers_list_shows_who_holds_each_followed_subscribers_lease_in_one_query(ops_client, reference_data):
    from pipelines.transport import subscriptions

    changelist = reverse("ops:pipelines_subscriber_changelist")
    followed = subscriptions.open_follow("tpfgo.checkout.order-ready.v1", subscriber="marketing")
    subscriptions.acknowledge("warehouse", "tpfgo.checkout.order-ready.v1", 0)  # known, not followed
    try:
        with CaptureQueriesContext(connection) as two:
            page = text(ops_client.get(changelist))
        [marketing, warehouse] = subscriber_rows(page, "marketing", "warehouse")
        assert f"|{followed.lease.holder}|" in marketing and "not followed" not in marketing
        assert "|not followed|" in warehouse and followed.lease.holder not in warehouse
        expires = SubscriberLease.objects.get().expires_at
        assert f"|{formats.localize(timezone.template_localtime(expires))}|" in marketing
        for name in ("accounting", "billing", "loyalty"):
            subscriptions.open_follow("tpfgo.checkout.order-ready.v1", subscriber=name)
        with CaptureQueriesContext(connection) as five:
            page = text(ops_client.get(changelist))
        assert len(subscriber_rows(page, "accounting", "billing", "loyalty", "marketing", "warehouse")) == 5
        assert len(five.captured_queries) == len(two.captured_queries)  # no query per subscriber
    finally:
        followed.release()


def test_the_console_shows_the_order_view_the_api_answers(ops_client, dead_order):
    """One selector builds the view: the lineage page's order is, rendered, the body of GET /api/v1/orders/{id}."""
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {create_token(kind='ops', name='api-client').key}")
    answered = api.get(f"/api/v1/orders/{dead_order}")
    assert answered.status_code == 200

    response = ops_client.get(reverse("ops:lineage", args=[dead_order]))

    shown = response.context["order"]
    assert isinstance(shown, OrderView)
    assert render(shown) == answered.json()
    assert shown.stalled is not None and shown.stalled.dead_lettered  # the dead letter both of them show
    page = text(response)
    assert f"{shown.stalled.error_class} — {shown.stalled.message}" in page
    assert f"request {shown.request_id}" in page and f"consumer {shown.consumer_id}" in page


def test_the_sweepers_sends_list_the_most_sent_first_and_are_searched_by_the_work_they_name(ops_client):
    now = timezone.now()
    trace, parked = uuid.uuid4(), uuid.uuid4()
    for kind, subject, sends, at in (
        ("retry", parked, 1, now - datetime.timedelta(minutes=1)),
        ("resume", trace, 3, now),
    ):
        for n in range(1, sends + 1):
            SweepDispatch.objects.create(kind=kind, subject=subject, number=4, send=n, created_at=at, resend_at=at)
    changelist = reverse("ops:pipelines_sweepdispatch_changelist")

    page = text(ops_client.get(changelist))
    rows = re.findall(
        r'<td class="field-subject">([0-9a-f-]+)</td><td class="field-number">4</td>'
        r'<td class="field-send">(\d)</td>',
        page,
    )
    assert rows == [(str(trace), "3"), (str(trace), "2"), (str(trace), "1"), (str(parked), "1")]

    found = text(ops_client.get(changelist, {"q": str(parked)}))
    assert str(parked) in found and str(trace) not in found


def test_each_sweep_dispatch_links_to_the_lineage_of_the_work_it_names(ops_client, dead_order):
    now, parked = timezone.now(), ParkedItem.objects.get(trace_id=dead_order)
    for kind, subject in (("retry", parked.pk), ("resume", dead_order)):
        SweepDispatch.objects.create(kind=kind, subject=subject, number=4, send=1, created_at=now, resend_at=now)
    page = text(ops_client.get(reverse("ops:pipelines_sweepdispatch_changelist")))
    links = re.findall(r'<td class="field-lineage"><a href="([^"]+)">lineage</a></td>', page)
    of_parked = f"{reverse('ops:lineage_of')}?id={parked.pk}"
    assert sorted(h.replace("&amp;", "&") for h in links) == sorted(
        [reverse("ops:lineage", args=[dead_order]), of_parked]
    )
    opened = ops_client.get(of_parked)
    assert opened.status_code == 302 and opened["Location"].startswith(reverse("ops:lineage", args=[dead_order]))


def test_a_retry_take_over_names_both_runs_and_is_found_by_its_parked_item(ops_client, dead_order):
    parked = ParkedItem.objects.get(trace_id=dead_order)
    claim = parked.claims.order_by("attempt").first()
    RetryTakeover.objects.create(
        parked=parked,
        attempt=claim.attempt,
        worker="task-9@host-b",
        taken_from="task-1@host-a",
        created_at=timezone.now(),
    )
    changelist = reverse("ops:pipelines_retrytakeover_changelist")

    page = text(ops_client.get(changelist, {"q": str(parked.pk)}))
    shown = re.findall(
        r'<td class="field-attempt">(\d+)</td><td class="field-worker">([^<]*)</td>'
        r'<td class="field-taken_from">([^<]*)</td>',
        page,
    )
    assert shown == [(str(claim.attempt), "task-9@host-b", "task-1@host-a")]
    assert f"{parked.pipeline}/{parked.step}" in page
    assert "task-9@host-b" not in text(ops_client.get(changelist, {"q": str(uuid.uuid4())}))


def test_a_stalled_rows_link_lists_the_parked_items_it_counts(ops_client, dead_order):
    later = uuid.UUID(services.place_order(order_body(), "parked-then-resolved").view["orderId"])
    Courier.objects.filter(pk="courier-ann").update(available=True)
    assert retries.run_attempt(ParkedItem.objects.get(trace_id=later).pk, 2) == "inserted"

    page = text(ops_client.get(reverse("ops:index")))
    stalled = page[page.index('id="stalled"') : page.index('id="dead-letters"')]
    row = re.search(
        r'<tr data-step="dispatch/delivery_assigned">.*?data-status="open"><a href="([^"]+)">(\d+)</a>', stalled, re.S
    )
    assert row and row.group(2) == "1"
    listed = text(ops_client.get(row.group(1).replace("&amp;", "&")))
    assert listed.count('<td class="field-status">') == 1 and f"{dead_order}" in listed and f"{later}" not in listed
    everything = text(ops_client.get(reverse("ops:pipelines_parkeditem_changelist"), {"step": "delivery_assigned"}))
    assert everything.count('<td class="field-status">') == 2


def test_an_entry_another_instance_forwarded_names_it_instead_of_linking_a_lineage_kept_there(ops_client, dead_order):
    forwarded = ErrorSinkEntry.objects.filter(trace_id=dead_order).first()
    elsewhere = uuid.uuid4()  # a trace of the instance that forwarded it: this database holds none of it
    forwarded_entry(elsewhere)
    listed = text(ops_client.get(reverse("ops:pipelines_errorsinkentry_changelist")))
    assert reverse("ops:lineage", args=[elsewhere]) not in listed and "kept by edge-1" in listed
    assert reverse("ops:lineage", args=[dead_order]) in listed
    remote = ErrorSinkEntry.objects.get(trace_id=elsewhere)
    page = text(ops_client.get(reverse("ops:pipelines_errorsinkentry_change", args=[remote.pk])))
    assert reverse("ops:lineage", args=[elsewhere]) not in page and f"{elsewhere} (kept by edge-1)" in page
    local = text(ops_client.get(reverse("ops:pipelines_errorsinkentry_change", args=[forwarded.pk])))
    assert f'href="{reverse("ops:lineage", args=[dead_order])}">{dead_order} (lineage)</a>' in local


@pytest.mark.parametrize(("orders", "heading"), [(20, "Dead letters (20)"), (21, "Dead letters (20+)")])
def test_the_dead_letters_heading_says_more_only_when_there_are_more_than_it_lists(
    ops_client, reference_data, settings, orders, heading
):
    settings.TPFGO_RETRY_POLICIES = {"dispatch.delivery_assigned": {"max_attempts": 1}}
    Courier.objects.update(available=False)
    for n in range(orders):
        services.place_order(order_body(), f"dead-at-once-{n}")
    assert OpenParked.objects.filter(dead_at__isnull=False).count() == orders
    page = text(ops_client.get(reverse("ops:index")))
    assert f"<h2>{heading}</h2>" in page and page.count('class="dead-letter"') == 20
