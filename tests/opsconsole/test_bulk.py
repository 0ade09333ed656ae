"""Bulk remediation from the console: filters → one preview of every order → reason → a run advanced in batches."""

from __future__ import annotations

import contextlib
import re
import threading
import uuid

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.urls import reverse

from checkout import state
from checkout.models import Courier
from pipelines.models import BulkRun, OpsAction
from pipelines.store import claim_locks
from tests.conftest import all_insert_only_counts
from tests.opsconsole.conftest import dead_lettered_order, make_ops_user

pytestmark = pytest.mark.django_db

DISPATCH = {"state": "dead_letter", "pipeline": "dispatch", "step": "delivery_assigned"}


@pytest.fixture
def three_dead(reference_data) -> list[uuid.UUID]:
    orders = [dead_lettered_order(f"bulk-dead-{n}") for n in range(3)]
    Courier.objects.filter(pk="courier-ann").update(available=True)  # the cause is fixed
    return orders


def plan_of(page: str) -> list[str]:
    return [chunk.split('"', 1)[0] for chunk in page.split('name="plan" value="')[1:]]


def test_the_bulk_preview_lists_every_order_and_what_it_would_insert_inserting_nothing(ops_client, three_dead):
    before = all_insert_only_counts()
    page = ops_client.get(reverse("ops:bulk_remediation", args=["redrive"]), DISPATCH).content.decode()
    assert page.count('class="bulk-order"') == 3
    assert all(f'data-order="{o}"' in page for o in three_dead)
    assert "RetryScheduled" in page and "DeliveryAssigned" in page and "Redrive: 3 orders" in page
    assert len(plan_of(page)) == 3 and 'name="reason"' in page
    assert all_insert_only_counts() == before


def test_bad_filters_are_named_and_nothing_is_offered(ops_client, three_dead):
    page = ops_client.get(reverse("ops:bulk_remediation", args=["redrive"]), {"state": "all", "limit": "x"})
    text = page.content.decode()
    assert page.status_code == 200 and "INVALID_ARGUMENT" in text and "state: one of" in text and "limit:" in text
    assert 'id="confirm-form"' not in text


def test_a_run_needs_a_reason_then_advances_batch_by_batch_to_its_results(ops_client, three_dead, settings):
    settings.TPFGO_BULK_REMEDIATION_BATCH = 2
    url = reverse("ops:bulk_remediation", args=["redrive"])
    plan = plan_of(ops_client.get(url, DISPATCH).content.decode())
    before = all_insert_only_counts()
    page = ops_client.post(url, {"plan": plan, "reason": " "})
    assert "reason is required" in " ".join(str(m) for m in get_messages(page.wsgi_request))
    assert all_insert_only_counts() == before

    response = ops_client.post(url, {"plan": plan, "reason": "courier-ann is back"})
    run = BulkRun.objects.get()
    assert response["Location"] == reverse("ops:bulk_run", args=[run.id])
    advance = reverse("ops:bulk_advance", args=[run.id])
    first = ops_client.post(advance, HTTP_ACCEPT="application/json").json()
    assert (first["processed"], first["finished"]) == (2, False)
    second = ops_client.post(advance, HTTP_ACCEPT="application/json").json()
    assert (second["processed"], second["done"], second["finished"]) == (3, 3, True)

    page = ops_client.get(response["Location"]).content.decode()
    assert page.count("bulk-result done") == 3 and "redriven" in page and 'id="bulk-finished"' in page
    assert {state.order_view(o).state for o in three_dead} == {"COMPLETED"}
    assert OpsAction.objects.filter(action="redrive").count() == 3
    assert OpsAction.objects.filter(action="bulk-redrive").count() == 1


def test_the_error_groups_and_the_dashboard_link_to_the_bulk_preview(ops_client, three_dead):
    groups = ops_client.get(reverse("ops:error_groups")).content.decode()
    assert "Redrive its dead letters…" in groups and reverse("ops:bulk_remediation", args=["redrive"]) in groups
    dashboard = ops_client.get(reverse("ops:index")).content.decode()
    assert "Redrive all 3…" in dashboard


def test_running_in_bulk_needs_the_remediation_permission(client, three_dead):
    viewer = make_ops_user("viewer")
    viewer.groups.clear()
    client.force_login(viewer)
    assert client.get(reverse("ops:bulk_remediation", args=["redrive"]), DISPATCH).status_code == 403


def test_every_ops_action_links_to_a_page_that_exists(ops_client, three_dead, settings):
    """A pause's, a bulk run's and an erasure's own audit rows carry their own id where an order's would be: their
    link opens the pause, the run and the consumer, not a lineage of that id (404)."""
    url = reverse("ops:bulk_remediation", args=["redrive"])
    plan = plan_of(ops_client.get(url, DISPATCH).content.decode())
    run_page = ops_client.post(url, {"plan": plan, "reason": "courier-ann is back"})["Location"]
    ops_client.post(reverse("ops:bulk_advance", args=[BulkRun.objects.get().id]))
    ops_client.post("/ops/pauses/", {"do": "pause", "step": "payment-capture.payment_outcome", "reason": "504s"})
    ops_client.post(reverse("ops:erasure", args=["dave"]), {"reason": "dave asked to be forgotten"})
    actions = sorted(OpsAction.objects.values_list("action", flat=True))
    assert actions == ["bulk-redrive", "erase-consumer", "pause-step", "redrive", "redrive", "redrive"]

    page = ops_client.get(reverse("ops:pipelines_opsaction_changelist")).content.decode()
    links = re.findall(r'<td class="field-lineage"><a href="([^"]+)">([^<]+)</a>', page)
    pause = OpsAction.objects.get(action="pause-step").trace_id
    assert sorted(links) == sorted(
        [
            (run_page, "bulk run"),
            (reverse("ops:pipelines_steppause_change", args=[pause]), "pause"),
            (reverse("ops:checkout_consumer_change", args=["dave"]), "consumer"),
            *[(reverse("ops:lineage", args=[o]), "lineage") for o in three_dead],
        ]
    )
    assert [ops_client.get(href).status_code for href, _ in links] == [200] * 6
    for action in ("bulk-redrive", "erase-consumer", "pause-step", "take-up-fork"):  # each offered by its filter
        assert f'href="?action={action}"' in page


def test_a_second_operator_submitting_the_same_plan_is_told_it_joined_the_first_ones_run(ops_client, three_dead):
    from django.test import Client

    erin = Client()
    erin.force_login(make_ops_user("erin"))
    url = reverse("ops:bulk_remediation", args=["redrive"])
    plans = [plan_of(client.get(url, DISPATCH).content.decode()) for client in (ops_client, erin)]
    first = ops_client.post(url, {"plan": plans[0], "reason": "courier-ann is back"})
    assert [str(m) for m in get_messages(first.wsgi_request)] == []
    again = ops_client.post(url, {"plan": plans[0], "reason": "courier-ann is back"})  # a double click: no word
    assert [str(m) for m in get_messages(again.wsgi_request)] == []

    second = erin.post(url, {"plan": plans[1], "reason": "gateway fixed"})
    run = BulkRun.objects.get()
    assert second["Location"] == first["Location"] == reverse("ops:bulk_run", args=[run.id])
    assert [str(m) for m in get_messages(second.wsgi_request)] == [
        f"This plan was already submitted by ops at {run.created_at:%Y-%m-%d %H:%M:%S} UTC (because: courier-ann is "
        "back): this is that run, nothing runs twice, and your reason was not recorded."
    ]
    assert (run.actor, run.reason) == ("ops", "courier-ann is back")


def test_an_old_preview_of_a_finished_run_lands_on_it_told_it_finished_with_its_result(ops_client, three_dead):
    from django.test import Client

    url = reverse("ops:bulk_remediation", args=["redrive"])
    old = plan_of(ops_client.get(url, DISPATCH).content.decode())  # a preview left open in a tab
    erin = Client()
    erin.force_login(make_ops_user("erin"))
    run_page = erin.post(url, {"plan": old, "reason": "courier-ann is back"})["Location"]
    while not erin.post(run_page + "advance/", HTTP_ACCEPT="application/json").json()["finished"]:
        pass
    actions = OpsAction.objects.count()

    for client, reason in ((ops_client, "courier-ann is back, again"), (erin, "courier-ann is back")):
        again = client.post(url, {"plan": old, "reason": reason})
        run = BulkRun.objects.get()
        finished = OpsAction.objects.get(action="bulk-redrive").created_at
        yours = ", and your reason was not recorded" if client is ops_client else ""
        assert (again["Location"], [str(m) for m in get_messages(again.wsgi_request)]) == (
            run_page,
            [
                f"This plan was already run: submitted by erin at {run.created_at:%Y-%m-%d %H:%M:%S} UTC (because: "
                f"courier-ann is back), finished at {finished:%Y-%m-%d %H:%M:%S} UTC with 3 done, 0 skipped and 0 "
                f"failed. Nothing ran again{yours}; preview again to act on these orders as they are now; while "
                "they are where this run left them, the preview offers to run them again, as a new run recorded as "
                f"a re-run of bulk run {run.id}."
            ],
        )
    page = " ".join(ops_client.get(run_page).content.decode().split())
    assert f"Finished at {finished:%Y-%m-%d %H:%M:%S} UTC." in page and "advance-form" not in page
    assert OpsAction.objects.count() == actions


def test_a_finished_plan_whose_orders_all_failed_is_offered_again_and_runs_once_as_a_re_run(ops_client, three_dead):
    url = reverse("ops:bulk_remediation", args=["redrive"])
    held, release = threading.Event(), threading.Event()

    def another_action() -> None:  # an ops action on every order, in another session, until released
        try:
            with contextlib.ExitStack() as stack:
                assert all(stack.enter_context(claim_locks.exclusive("ops-action", o)) for o in three_dead)
                held.set()
                release.wait(60)
        finally:
            connection.close()

    def run_to_end(response) -> dict:  # type: ignore[no-untyped-def]
        while not (shown := ops_client.post(response["Location"] + "advance/", HTTP_ACCEPT="application/json").json())[
            "finished"
        ]:
            pass
        return shown

    holder = threading.Thread(target=another_action)
    holder.start()
    assert held.wait(30)
    try:
        plan = plan_of(ops_client.get(url, DISPATCH).content.decode())
        first = run_to_end(ops_client.post(url, {"plan": plan, "reason": "courier-ann is back"}))
    finally:
        release.set()
        holder.join()
    assert (first["done"], first["failed"], first.get("againOf")) == (0, 3, None)

    page = ops_client.get(url, DISPATCH).content.decode()
    assert plan_of(page) == plan  # the orders are where the run left them: the same plan
    assert f'These orders already ran as this plan: <a href="{reverse("ops:bulk_run", args=[first["runId"]])}">' in page
    assert f'name="again" value="{first["runId"]}"' in page and "3 failed" in page
    (again_id,) = re.findall(r'<span id="bulk-again-run">([^<]*)</span>', page)  # the id the re-run will get
    response = ops_client.post(url, {"plan": plan, "reason": "courier-ann is back", "again": first["runId"]})
    second = run_to_end(response)
    assert second["runId"] == again_id and response["Location"] == reverse("ops:bulk_run", args=[again_id])
    assert (second["done"], second["skipped"], second["failed"], second["againOf"]) == (3, 0, 0, first["runId"])
    assert [state.order_view(o).state for o in three_dead] == ["COMPLETED"] * 3
    batch = OpsAction.objects.get(action="bulk-redrive", trace_id=second["runId"])
    assert (batch.result["againOf"], batch.result["done"]) == (first["runId"], 3)
    assert (
        f'a re-run of <a href="{reverse("ops:bulk_run", args=[first["runId"]])}">'
        in ops_client.get(response["Location"]).content.decode()
    )
    before = all_insert_only_counts()

    # The same form sent again (a double click, the tab left open): its re-run already ran; nothing runs.
    resent = ops_client.post(url, {"plan": plan, "reason": "courier-ann is back", "again": first["runId"]})
    assert resent["Location"] == response["Location"]
    (told,) = [str(m) for m in get_messages(resent.wsgi_request)]
    assert told.startswith("This plan was already run:") and "3 done, 0 skipped and 0 failed" in told
    assert all_insert_only_counts() == before
    assert BulkRun.objects.count() == 2
