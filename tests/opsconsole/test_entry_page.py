"""The triage screens (an error-sink entry's page, an order's lineage) read the order once per page."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from checkout import ops_actions, services
from checkout.order_approved.models import OrderApproved
from pipelines.models import ErrorSinkEntry
from tests.checkout.conftest import order_body

pytestmark = pytest.mark.django_db

# The session and user, the entry, the order's view (its facts, forks, log and open failure, read once for the
# page), the remediations' applicability (with whether a paused step would hold a remediation's attempt) and the
# item's attempts with its parking. The view and the redrive's applicability each ask whether a redrive of the dead
# letter is held by a pause (it then waits for the resume, not for a remediation): one query each.
ENTRY_PAGE_QUERIES = 40
# A forked order's adds two: the log's positions and each logged checkpoint's branch (one query for every table).
FORKED_ENTRY_PAGE_QUERIES = ENTRY_PAGE_QUERIES + 2
# The same, plus the log and the links of the picture and each parked item's outcome, entries and hold (a dead
# letter's too: a redrive of it may be held), and the order's failed attempts and waits, with their branches (one
# query each).
LINEAGE_PAGE_QUERIES = 57


def entry_page_queries(client, entry: ErrorSinkEntry) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("ops:pipelines_errorsinkentry_change", args=[entry.pk]))
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_an_entry_page_reads_as_many_queries_for_a_dead_letter_of_one_attempt_as_for_one_of_many(
    ops_client, dead_order, settings
):
    settings.TPFGO_RETRY_POLICIES = {"dispatch.delivery_assigned": {"max_attempts": 1}}
    at_once = uuid.UUID(services.place_order(order_body(), "dead-at-once").view["orderId"])  # no courier either
    only = ErrorSinkEntry.objects.get(trace_id=at_once)
    last = ErrorSinkEntry.objects.filter(trace_id=dead_order).order_by("-attempt").first()
    assert last.attempt > 10  # dispatch's whole retry budget, each attempt an entry

    entry_page_queries(ops_client, only)  # Django's caches (content types, the user's permissions) warmed
    assert (entry_page_queries(ops_client, only), entry_page_queries(ops_client, last)) == (ENTRY_PAGE_QUERIES,) * 2


def test_an_orders_lineage_page_reads_the_orders_forks_once(ops_client, dead_order):
    page = reverse("ops:lineage", args=[dead_order])
    ops_client.get(page)  # Django's caches warmed
    with CaptureQueriesContext(connection) as captured:
        assert ops_client.get(page).status_code == 200
    forks = [q for q in captured.captured_queries if 'FROM "pipelines_forkedfrom"' in q["sql"]]
    assert (len(forks), len(captured.captured_queries)) == (1, LINEAGE_PAGE_QUERIES)


def test_a_forked_orders_entry_page_reads_its_facts_and_their_branches_once(ops_client, dead_order, settings):
    settings.TPFGO_RETRY_POLICIES = {"dispatch.delivery_assigned": {"max_attempts": 1}}
    plain = ErrorSinkEntry.objects.get(trace_id=services.place_order(order_body(), "dead-at-once").view["orderId"])
    approved = str(OrderApproved.objects.get(order_id=dead_order).pk)
    seq = ops_actions.preview("fork", dead_order, checkpoint_id=approved)["expectedSeq"]
    ops_actions.execute("fork", dead_order, actor="ops", reason="re-run", expected_seq=seq, checkpoint_id=approved)
    forked = ErrorSinkEntry.objects.filter(trace_id=dead_order).order_by("-created_at").first()
    assert forked.attempt == 1  # the fork's own dispatch failed again: still no courier

    entry_page_queries(ops_client, plain)  # Django's caches warmed
    with CaptureQueriesContext(connection) as captured:
        assert ops_client.get(reverse("ops:pipelines_errorsinkentry_change", args=[forked.pk])).status_code == 200
    branch_reads = [q for q in captured.captured_queries if '"branch" AS "branch"' in q["sql"]]
    assert (entry_page_queries(ops_client, plain), len(captured.captured_queries), len(branch_reads)) == (
        ENTRY_PAGE_QUERIES,
        FORKED_ENTRY_PAGE_QUERIES,
        1,
    )
