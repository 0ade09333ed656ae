"""A forked order is cancelled on the branch its view shows: the consumer's cancellation and ops' cancel decide the
fork (here one forked from the ticket, waiting for the restaurant again), not the parent it superseded."""

from __future__ import annotations

import pytest

from checkout import ops_actions, services
from checkout.order_cancelled.models import OrderCancelled
from pipelines.models import MAIN_BRANCH, OpenWait
from tests.checkout.conftest import place
from tests.checkout.test_fork_waits import WHO, decisions, fork_from_ticket

pytestmark = pytest.mark.django_db


def forked_waiting_order() -> tuple[str, str]:
    """The restaurant rejected the order (the parent cancelled it), then ops forked it from the ticket."""
    view = place(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
    order_id = view["orderId"]
    services.reject_ticket(view["kitchenTicketId"], "out of eggs")
    forked = fork_from_ticket(order_id)
    assert services.get_order(order_id)["state"] == "AWAITING_ACCEPTANCE"
    return order_id, forked.branch


def cancelled(order_id: str) -> list[tuple[str, str]]:
    return sorted(OrderCancelled.objects.filter(order_id=order_id).values_list("branch", "reason"))


def test_ops_cancel_of_a_forked_order_cancels_the_fork(demo_data):
    order_id, fork = forked_waiting_order()
    before = cancelled(order_id)
    assert [branch for branch, _ in before] == [MAIN_BRANCH]

    shown = ops_actions.preview("ops-cancel", order_id)
    after = ops_actions.execute("ops-cancel", order_id, expected_seq=shown["expectedSeq"], **WHO)

    assert after["state"] == "CANCELLED"
    assert decisions(order_id) == sorted([(MAIN_BRANCH, "REJECTED"), (fork, "CANCELLED")])
    assert cancelled(order_id) == sorted([*before, (fork, "OPS_CANCELLED")])
    assert not OpenWait.objects.filter(trace_id=order_id).exists()


def test_the_consumers_cancellation_of_a_forked_order_cancels_the_fork(demo_data):
    order_id, fork = forked_waiting_order()
    before = cancelled(order_id)

    answer = services.cancel_order(order_id)

    assert answer["cancellation"]["outcome"] == "ACCEPTED"
    assert answer["order"]["state"] == "CANCELLED"
    assert cancelled(order_id) == sorted([*before, (fork, "CONSUMER_CANCELLED")])
    assert decisions(order_id) == sorted([(MAIN_BRANCH, "REJECTED"), (fork, "CANCELLED")])
