"""Requests no console page sends (found by an adversarial pass, 2026-12-06): each gets the list again with a
message or Django's bad-lookup redirect, never a 500, and runs nothing."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from pipelines.models import ErrorSinkEntry
from tests.conftest import all_insert_only_counts


@pytest.mark.parametrize("selected", [["not-a-uuid"], ["\x00"], ["not-a-uuid", "\x00"]])
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
