"""The Paused steps page: pause from the console, see it listed with its reason and what it holds, resume."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from pipelines.models import OpsAction, ParkedItem, StepPause, StepResume
from tests.checkout.conftest import place

pytestmark = pytest.mark.django_db
URL = "/ops/pauses/"


def test_pause_list_and_resume_from_the_page(ops_client, reference_data):
    assert reverse("ops:pauses") == URL
    empty = ops_client.get(URL)
    assert empty.status_code == 200 and "No step is paused." in empty.content.decode()

    done = ops_client.post(URL, {"do": "pause", "step": "payment-capture.payment_outcome", "reason": "gateway 504s"})
    assert done.status_code == 302
    place()
    page = ops_client.get(URL).content.decode()
    assert 'data-step="payment-capture.payment_outcome"' in page and "gateway 504s" in page
    assert '<td class="num held">1</td>' in page
    row = StepPause.objects.get()
    assert (row.actor, row.key, row.value) == ("ops", "", "")

    ops_client.post(URL, {"do": "resume", "pause": str(row.id), "reason": "gateway fixed"})
    after = ops_client.get(URL).content.decode()
    assert "No step is paused." in after
    assert '<td class="num drained">0 / 1</td>' in after and '<td class="num remaining">1</td>' in after
    assert StepResume.objects.get(pause=row).actor == "ops"
    assert list(OpsAction.objects.order_by("created_at").values_list("action", flat=True)) == [
        "pause-step",
        "resume-step",
    ]


def test_a_refused_pause_says_why_and_stores_nothing(ops_client):
    response = ops_client.post(
        URL, {"do": "pause", "step": "payment-capture.payment_outcome", "reason": ""}, follow=True
    )
    assert "INVALID_ARGUMENT" in response.content.decode()
    response = ops_client.post(URL, {"do": "resume", "pause": "not-an-id", "reason": "x"}, follow=True)
    assert "NOT_FOUND" in response.content.decode()
    assert StepPause.objects.count() == 0 and OpsAction.objects.count() == 0


def test_staff_without_the_remediation_permission_may_look_but_not_pause(client):
    viewer = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    client.force_login(viewer)
    assert client.get(URL).status_code == 403  # not even a look without the console's view permission
    viewer.user_permissions.add(Permission.objects.get(content_type__app_label="opsconsole", codename="view_console"))
    client.force_login(get_user_model().objects.get(pk=viewer.pk))  # a fresh user: no cached permissions
    assert client.get(URL).status_code == 200
    refused = client.post(URL, {"do": "pause", "step": "payment-capture.payment_outcome", "reason": "x"})
    assert refused.status_code == 403
    assert StepPause.objects.count() == 0


def test_an_order_held_by_a_pause_shows_as_held_not_as_retrying(ops_client, reference_data):
    ops_client.post(URL, {"do": "pause", "step": "kitchen-preparation.kitchen_commitment", "reason": "printer jam"})
    order = place().view["orderId"]
    parked = ParkedItem.objects.get(trace_id=order)

    page = ops_client.get(reverse("ops:lineage", args=[order])).content.decode()
    badge = re.search(r'<span class="ops-badge stalled">\s*([^<]*?)\s*</span>', page)
    assert badge and badge.group(1) == "held by a pause"
    # The picture's node (the stops list above it names the parked item by the same id).
    node = re.search(rf'<a class="node [^"]*"[^>]*data-node-id="{parked.pk}"[^>]*>\s*<title>([^<]*)</title>', page)
    assert node and "kitchen_commitment — held by a pause: printer jam · 0 failed attempt(s)" in node.group(1)
    assert "retrying" not in page.replace("parked, retrying</span>", "")  # the legend's colour key stays
    assert (
        "<strong>Redrive</strong>: does not apply, kitchen-preparation/kitchen_commitment is held by a paused step; "
        "it is not dead-lettered (it runs once the step is resumed)." in page
    )

    listed = ops_client.get(reverse("ops:pipelines_parkeditem_changelist")).content.decode()
    assert '<td class="field-status">held by a pause</td>' in listed
    row = ops_client.get(reverse("ops:pipelines_parkeditem_change", args=[parked.pk])).content.decode()
    pause = reverse("ops:pipelines_steppause_change", args=[StepPause.objects.get().pk])
    held = f'held by a <a class="pause-link" href="{pause}">pause</a> (printer jam) until it is resumed.'
    assert held in row and "retrying" not in row


def test_a_value_without_its_key_is_refused_not_taken_for_a_pause_of_every_item(ops_client, reference_data):
    response = ops_client.post(
        URL,
        {"do": "pause", "step": "dispatch.delivery_assigned", "key": "", "value": "chez-manuel", "reason": "closed"},
        follow=True,
    )
    assert "INVALID_ARGUMENT: a value needs a pause key" in response.content.decode()
    assert StepPause.objects.count() == 0 and OpsAction.objects.count() == 0


def test_a_second_operator_pausing_or_resuming_the_same_is_told_who_did_it_first(ops_client, reference_data):
    from django.contrib.messages import get_messages
    from django.test import Client

    from tests.opsconsole.conftest import make_ops_user

    erin = Client()
    erin.force_login(make_ops_user("erin"))
    pause = {"do": "pause", "step": "payment-capture.payment_outcome"}
    ops_client.post(URL, {**pause, "reason": "gateway 504s"})
    row = StepPause.objects.get()
    told = [str(m) for m in get_messages(erin.post(URL, {**pause, "reason": "captures time out"}).wsgi_request)]
    assert told == [
        f"FAILED_PRECONDITION: {row} is already paused by ops since {row.created_at:%Y-%m-%d %H:%M:%S} UTC "
        "(because: gateway 504s)"
    ]

    ops_client.post(URL, {"do": "resume", "pause": str(row.id), "reason": "gateway fixed"})
    ended = StepResume.objects.get()
    erin.get(URL)  # the page shows (and so drops) the first refusal
    told = [
        str(m)
        for m in get_messages(erin.post(URL, {"do": "resume", "pause": str(row.id), "reason": "ok"}).wsgi_request)
    ]
    assert told == [
        f"FAILED_PRECONDITION: {row} was already resumed by ops at {ended.created_at:%Y-%m-%d %H:%M:%S} UTC "
        "(because: gateway fixed)"
    ]
    assert (StepPause.objects.count(), StepResume.objects.count(), OpsAction.objects.count()) == (1, 1, 2)


def test_the_page_reads_as_many_queries_for_many_pauses_as_for_one(ops_client, reference_data):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def pause_and_resume(restaurants: list[str]) -> int:
        for restaurant in restaurants:
            form = {"do": "pause", "step": "dispatch.delivery_assigned", "key": "restaurant", "value": restaurant}
            ops_client.post(URL, {**form, "reason": "kitchen closed"})
            ops_client.post(URL, {**form, "reason": "and again"})  # refused: already paused
        ops_client.post(URL, {"do": "pause", "step": "payment-capture.payment_outcome", "reason": f"{restaurants}"})
        place(key=f"held-{restaurants[0]}")
        for row in StepPause.objects.filter(key="", resumes__isnull=True):
            ops_client.post(URL, {"do": "resume", "pause": str(row.pk), "reason": "gateway fixed"})
        ops_client.get(URL)
        with CaptureQueriesContext(connection) as captured:
            page = ops_client.get(URL).content.decode()
        assert page.count('<tr class="pause"') == StepPause.objects.filter(resumes__isnull=True).count()
        return len(captured.captured_queries)

    from checkout.models import Restaurant

    others = [r for r in Restaurant.objects.order_by("pk").values_list("pk", flat=True) if r != "pizza-roma"][:2]
    one = pause_and_resume(["pizza-roma"])
    assert pause_and_resume(others) == one
    from pipelines import database_now, drain

    now, ids = database_now(), list(StepPause.objects.values_list("pk", flat=True))
    shown = drain.progress_of(ids, now)  # the page's one read gives what each pause's own reads give
    assert shown == {pk: drain.progress(StepPause.objects.get(pk=pk), now) for pk in ids}
    assert sum(p.held for p in shown.values()) == 2  # both orders, held at dispatch by the pizza-roma pause
