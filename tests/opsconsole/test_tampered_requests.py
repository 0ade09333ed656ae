"""Requests no console page sends (found by an adversarial pass, 2026-12-06): each gets the list again with a
message or Django's bad-lookup redirect, never a 500, and runs nothing."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from pipelines.models import ErrorSinkEntry
from tests.conftest import all_insert_only_counts


@pytest.mark.parametrize("selected", [["not-a-uuid"], ["12345"], ["not-a-uuid", "1"]])
def test_an_action_on_ids_that_are_no_rows_of_the_list_runs_nothing(ops_client, dead_order, selected):
    real = [str(e.pk) for e in ErrorSinkEntry.objects.filter(trace_id=dead_order)]
    url = reverse("ops:pipelines_errorsinkentry_changelist")
    before = all_insert_only_counts()
    response = ops_client.post(url, {"action": "redrive", "_selected_action": [*real, *selected], "index": "0"})
    assert (response.status_code, response["Location"]) == (302, url)
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages == ["The selected ids are not rows of this list: nothing was done."]
    assert all_insert_only_counts() == before


@pytest.mark.parametrize(
    "query",
    [
        {"created_at__year": "99999999999999999999"},
        {"created_at__year": "9999", "created_at__month": "12"},
        {"created_at__year": "2026", "created_at__month": "99999999999999999999"},
        {"created_at__year": "2026", "created_at__month": "1", "created_at__day": "99999999999999999999"},
    ],
)
@pytest.mark.parametrize(
    "changelist", ["ops:pipelines_errorsinkentry_changelist", "ops:order_request_orderrequest_changelist"]
)
def test_a_date_drill_down_beyond_what_a_date_holds_is_a_bad_lookup(ops_client, dead_order, changelist, query):
    url = reverse(changelist)
    response = ops_client.get(url, query)
    assert (response.status_code, response["Location"]) == (302, f"{url}?e=1")


@pytest.mark.parametrize(
    "request_of",
    [
        lambda c: c.get(reverse("ops:pipelines_errorsinkentry_changelist"), {"pipeline": "\x00"}),
        lambda c: c.get(reverse("ops:pipelines_checkpointlog_changelist"), {"step": "a\x00"}),
        lambda c: c.get(reverse("ops:checkout_courier_changelist"), {"id": "\x00"}),
        lambda c: c.get(reverse("ops:bulk_remediation", args=["redrive"]), {"code": "\x00"}),
        lambda c: c.get(reverse("ops:remediation", args=["assign-courier"]), {"courier_id": "\x00"}),
        lambda c: c.get("/ops/erasure/alice%00/"),
        lambda c: c.post(
            reverse("ops:pipelines_errorsinkentry_changelist"),
            {"action": "redrive", "_selected_action": ["\x00"], "index": "0"},
        ),
        lambda c: c.post("/ops/erasure/%00/", {"reason": "r"}),
        lambda c: c.post(
            reverse("ops:pauses"),
            {"do": "pause", "step": "dispatch.delivery_assigned", "key": "restaurant", "value": "\x00", "reason": "r"},
        ),
    ],
)
def test_a_nul_in_the_address_or_a_field_is_a_400_that_says_so(ops_client, dead_order, request_of):
    before = all_insert_only_counts()
    response = request_of(ops_client)
    assert response.status_code == 400
    assert "holds a NUL character; nothing was done" in response.content.decode()
    assert all_insert_only_counts() == before


@pytest.mark.parametrize("value", ["x" * 201, "a\x01b", "line\nbreak"])
def test_a_pause_value_its_column_cannot_hold_or_with_control_characters_is_refused(ops_client, value):
    from pipelines.models import StepPause

    form = {"do": "pause", "step": "dispatch.delivery_assigned", "key": "restaurant", "value": value, "reason": "r"}
    response = ops_client.post(reverse("ops:pauses"), form)
    assert response.status_code in (200, 302)
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("at most 200 characters, no control characters" in m for m in shown), shown
    assert StepPause.objects.count() == 0


@pytest.mark.parametrize("seq", ["\u00b2", "--5", "\u0661"])
def test_an_expected_position_that_is_no_number_is_not_a_500(ops_client, dead_order, seq):
    url = reverse("ops:remediation", args=["ops-cancel"])
    before = all_insert_only_counts()
    form = {"order": str(dead_order), f"expected_seq_{dead_order}": seq, "reason": "r"}
    response = ops_client.post(url, form)
    assert response.status_code == 302
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert len(shown) == 1 and "Cancel" in shown[0] and "refused" in shown[0], shown  # no expected position
    assert all_insert_only_counts() == before
