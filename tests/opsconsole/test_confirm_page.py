"""Remediation from the console: a confirm page that previews, asks why, runs through the engine, reports."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from checkout import services, state
from checkout.models import Courier
from opsconsole.templatetags.opsconsole_text import action_result
from pipelines.models import OpsAction
from tests.checkout.conftest import order_body
from tests.conftest import all_insert_only_counts
from tests.opsconsole.conftest import dead_lettered_order

pytestmark = pytest.mark.django_db


def confirm_url(action: str) -> str:
    return reverse("ops:remediation", args=[action])


def preview_seq(ops_client, action: str, order_id: uuid.UUID, **params) -> str:
    page = ops_client.get(confirm_url(action), {"order": str(order_id), **params}).content.decode()
    marker = f'name="expected_seq_{order_id}" value="'
    assert marker in page, page
    return page.split(marker, 1)[1].split('"', 1)[0]


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_confirm_page_previews_what_will_be_inserted_and_inserts_nothing(ops_client, dead_order):
    before = all_insert_only_counts()
    page = ops_client.get(confirm_url("redrive"), {"order": str(dead_order)}).content.decode()
    assert "What will be inserted" in page and "DeliveryAssigned" in page and "OpsAction" in page
    assert 'id="confirm-button"' in page and 'name="reason"' in page
    assert all_insert_only_counts() == before


def test_a_reason_is_required_and_a_stale_preview_fails_closed(ops_client, dead_order):
    Courier.objects.filter(pk="courier-ann").update(available=True)
    seq = preview_seq(ops_client, "redrive", dead_order)
    before = all_insert_only_counts()
    response = ops_client.post(confirm_url("redrive"), {"order": str(dead_order), f"expected_seq_{dead_order}": seq})
    assert response.status_code == 200 and any("reason is required" in m for m in messages_of(response))
    stale = {"order": str(dead_order), f"expected_seq_{dead_order}": str(int(seq) - 1), "reason": "retry"}
    response = ops_client.post(confirm_url("redrive"), stale)
    assert response.status_code == 302
    assert any("refused" in m and "preview again" in m for m in messages_of(response))
    assert all_insert_only_counts() == before


def test_redrive_runs_through_the_engine_and_records_who_and_why(ops_client, ops_user, dead_order):
    Courier.objects.filter(pk="courier-ann").update(available=True)
    seq = preview_seq(ops_client, "redrive", dead_order)
    response = ops_client.post(
        confirm_url("redrive"),
        {"order": str(dead_order), f"expected_seq_{dead_order}": seq, "reason": "courier back"},
    )
    assert response.status_code == 302 and response["Location"] == reverse("ops:lineage", args=[dead_order])
    assert any("state COMPLETED" in m for m in messages_of(response))
    assert state.order_view(dead_order).state == "COMPLETED"
    action = OpsAction.objects.get(trace_id=dead_order)
    assert (action.action, action.actor, action.reason, action.preview_seq) == (
        "redrive",
        ops_user.get_username(),
        "courier back",
        int(seq),
    )


def test_assign_courier_asks_for_the_courier_then_dispatches_to_it(ops_client, dead_order):
    page = ops_client.get(confirm_url("assign-courier"), {"order": str(dead_order)}).content.decode()
    assert 'name="courier_id"' in page and "courier-ben" in page and "disabled" in page
    seq = preview_seq(ops_client, "assign-courier", dead_order, courier_id="courier-ben")
    response = ops_client.post(
        confirm_url("assign-courier"),
        {"order": str(dead_order), f"expected_seq_{dead_order}": seq, "courier_id": "courier-ben", "reason": "Ben"},
    )
    assert response.status_code == 302
    view = state.order_view(dead_order)
    assert view.courier_id == "courier-ben" and view.state == "COMPLETED"


def test_ops_cancel_and_payment_review_from_the_console(ops_client, dead_order):
    seq = preview_seq(ops_client, "ops-cancel", dead_order)
    ops_client.post(
        confirm_url("ops-cancel"), {"order": str(dead_order), f"expected_seq_{dead_order}": seq, "reason": "gave up"}
    )
    assert state.order_view(dead_order).state == "CANCELLED"

    Courier.objects.update(available=True)
    review = uuid.UUID(services.place_order(order_body(consumer="dave"), "review-1").view["orderId"])
    assert state.order_view(review).state == "REVIEW_REQUIRED"
    seq = preview_seq(ops_client, "resolve-payment-review", review, approved="yes")
    response = ops_client.post(
        confirm_url("resolve-payment-review"),
        {"order": str(review), f"expected_seq_{review}": seq, "approved": "yes", "reason": "checked by phone"},
    )
    assert response.status_code == 302
    assert state.order_view(review).state == "COMPLETED"


def test_a_refused_action_cannot_be_confirmed(ops_client, reference_data):
    done = uuid.UUID(services.place_order(order_body(), "done-1").view["orderId"])
    page = ops_client.get(confirm_url("redrive"), {"order": str(done)}).content.decode()
    assert "Not allowed" in page and 'id="confirm-button" disabled' in page
    assert ops_client.get(confirm_url("no-such-action"), {"order": str(done)}).status_code == 404
    lineage = ops_client.get(reverse("ops:lineage", args=[done])).content.decode()
    assert "COMPLETED: nothing can happen to it any more" in lineage and confirm_url("redrive") not in lineage


def test_selected_orders_share_one_confirm_page(ops_client, dead_order):
    second = dead_lettered_order("console-dead-2")
    page = ops_client.get(confirm_url("redrive"), {"order": [str(dead_order), str(second)]}).content.decode()
    assert page.count('class="ops-preview"') == 2


def test_the_lineage_page_says_in_a_line_what_each_ops_action_did(ops_client, dead_order):
    seq = preview_seq(ops_client, "ops-cancel", dead_order)
    ops_client.post(
        confirm_url("ops-cancel"), {"order": str(dead_order), f"expected_seq_{dead_order}": seq, "reason": "gave up"}
    )
    action = OpsAction.objects.get(trace_id=dead_order)
    inserted = [row["type"] for row in action.result["inserted"]]
    assert inserted == ["OpsCancellation", "AuthorizationVoided", "OrderCancelled"]
    assert len(action.result["closedParkedIds"]) == 1

    page = ops_client.get(reverse("ops:lineage", args=[dead_order])).content.decode()
    section = page[page.index('id="ops-actions"') :]
    assert "inserted OpsCancellation, AuthorizationVoided, OrderCancelled; closed 1 parked item" in section
    listing = ops_client.get(reverse("ops:pipelines_opsaction_changelist")).content.decode()
    assert "inserted OpsCancellation, AuthorizationVoided, OrderCancelled; closed 1 parked item" in listing


@pytest.mark.parametrize(
    ("result", "line"),
    [
        ({"parkedId": "p", "attempt": 3, "status": "inserted"}, "attempt 3: inserted"),
        (
            {"steps": [{"pipeline": "dispatch", "step": "delivery_assigned", "status": "failed"}], "inserted": []},
            "inserted nothing; failed at dispatch/delivery_assigned",
        ),
        (
            {"inserted": [{"type": "KitchenTask"}, {"type": "KitchenTask"}], "redrive": {"status": "replayed"}},
            "inserted KitchenTask ×2; redrive: replayed",
        ),
        (
            {"inserted": [{"type": "PaymentReviewResolved"}], "closedParkedIds": [], "closedWaitIds": ["w"]},
            "inserted PaymentReviewResolved; ended 1 wait",
        ),
        ({}, "-"),
    ],
)
def test_an_action_result_reads_as_one_line(result, line):
    assert action_result(result) == line


def test_an_operator_refused_for_a_stale_preview_is_told_who_acted_meanwhile(ops_client, dead_order):
    from django.test import Client

    from tests.opsconsole.conftest import make_ops_user

    erin = Client()
    erin.force_login(make_ops_user("erin"))
    Courier.objects.filter(pk="courier-ann").update(available=True)
    seqs = [preview_seq(client, "redrive", dead_order) for client in (ops_client, erin)]
    form = {"order": str(dead_order), "reason": "ann is back"}
    ops_client.post(confirm_url("redrive"), {**form, f"expected_seq_{dead_order}": seqs[0]})
    first = OpsAction.objects.get(trace_id=dead_order)
    before = all_insert_only_counts()

    refused = messages_of(erin.post(confirm_url("redrive"), {**form, f"expected_seq_{dead_order}": seqs[1]}))
    assert len(refused) == 1 and "FAILED_PRECONDITION: the trace changed since the preview" in refused[0]
    meanwhile = f"meanwhile: redrive by ops at {first.created_at:%Y-%m-%d %H:%M:%S} UTC (ops action {first.pk})"
    assert meanwhile in refused[0]
    assert all_insert_only_counts() == before
