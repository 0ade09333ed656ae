"""Reading an order: its trace, its forks and the facts its view shows are read once per request, together.

``services.get_order`` (GET /api/v1/orders/{id}, gRPC GetOrder, FTGO's GET /orders/{id}) read the order's forks once
per fact and several facts twice: 21 statements, each a round trip on PostgreSQL. It now reads them in a read scope,
the first ones in one group (``state.read_ahead``): 10 statements, two groups.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from checkout import ops_actions, services, state
from checkout.order_approved.models import OrderApproved
from checkout.order_view import render
from checkout.terminal_order_state.models import TerminalOrderState
from pipelines import storage
from pipelines.models import MAIN_BRANCH, ForkedFrom
from pipelines.store import lookups
from tests.checkout.conftest import place

# Committed, as a request's reads are: a read scope keeps a trace's number only once the transaction that read it
# has committed (inside a test's transaction it never does, and every read would read the number again).
pytestmark = pytest.mark.django_db(transaction=True)

# The tables one completed order's view reads: the request's trace, forks and facts, then its log and parked items.
VIEW_TABLES = {
    "pipelines_trace": 1,
    "pipelines_forkedfrom": 1,
    "order_request_orderrequest": 1,
    "initial_order_initialorder": 1,
    "ticket_created_ticketcreated": 1,
    "delivery_assigned_deliveryassigned": 1,
    "payment_outcome_paymentoutcome": 1,
    "terminal_order_state_terminalorderstate": 1,
    "pipelines_checkpointlog": 1,
    "pipelines_parkeditem": 1,
}


def tables_read(queries: list[dict]) -> Counter:
    return Counter(re.search(r'\bFROM "(\w+)"', q["sql"]).group(1) for q in queries)


def groups(monkeypatch) -> list[int]:
    """The size of every group of look-ups sent together (one round trip each on PostgreSQL)."""
    sent: list[int] = []
    together = lookups.rows_together

    def counted(*queries):
        sent.append(len(queries))
        return together(*queries)

    monkeypatch.setattr(lookups, "rows_together", counted)
    monkeypatch.setattr(type(storage), "rows_together", staticmethod(counted))  # the store's name for it
    return sent


def test_a_completed_orders_read_reads_each_table_once_in_two_groups(demo_data, monkeypatch):
    placed = place()
    order_id = placed.view["orderId"]
    assert placed.view["state"] == "COMPLETED"
    sent = groups(monkeypatch)

    with CaptureQueriesContext(connection) as read:
        view = services.get_order(order_id)

    assert view == placed.view  # the same view the placing request answered
    assert tables_read(read.captured_queries) == VIEW_TABLES
    assert len(read.captured_queries) == 10
    # The trace, its forks and the six facts together; then the log with the parked items.
    assert sent == [8, 2]


def test_an_unknown_order_is_one_group_and_not_found(demo_data, monkeypatch):
    sent = groups(monkeypatch)
    with pytest.raises(services.NotFound):
        services.get_order(str(uuid.uuid4()))
    assert sent == [8]


def test_a_placing_request_reads_nothing_ahead(demo_data, monkeypatch):
    """The request that placed the order knows its trace and facts: its view reads only the log and parked items."""
    sent = groups(monkeypatch)
    place()
    assert sent[-1] == 2 and 8 not in sent


def test_a_forked_orders_read_shows_its_branchs_facts(demo_data):
    order_id = place().view["orderId"]
    approved = OrderApproved.objects.get(order_id=order_id)
    who = {"actor": "ops:erin", "reason": "re-run"}
    shown = ops_actions.preview("fork", order_id, checkpoint_id=str(approved.pk))
    ops_actions.execute("fork", order_id, expected_seq=shown["expectedSeq"], checkpoint_id=str(approved.pk), **who)
    [forked] = ForkedFrom.objects.filter(trace_id=order_id)
    on_fork = TerminalOrderState.objects.get(order_id=order_id, branch=forked.branch)
    on_main = TerminalOrderState.objects.get(order_id=order_id, branch=MAIN_BRANCH)
    assert on_fork.pk != on_main.pk

    view = services.get_order(order_id)

    shown_ids = {ref["id"] for ref in view["checkpoints"]}
    assert str(on_fork.pk) in shown_ids and str(on_main.pk) not in shown_ids
    assert view == render(state.order_view(uuid.UUID(order_id)))  # outside a request's scope: read fact by fact
