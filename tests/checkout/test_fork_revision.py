"""A forked order cannot be revised: a revision's facts have no lineage branch, so its steps would claim the main
branch's ticket, re-authorize the new total and answer ACCEPTED, while the fork the order shows went on with the
lines it had. The request is refused (FAILED_PRECONDITION) and stores nothing; the fork goes on as it was."""

from __future__ import annotations

import pytest

from checkout import services
from checkout.acceptance_decision.models import AcceptanceDecision
from pipelines import FailedPrecondition
from tests.checkout.test_fork_superseded_waits import fork, waiting_ticket
from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db

CREPES = {"items": [{"menuItemId": "crepe", "quantity": 3}]}


def test_a_revision_of_a_forked_order_is_refused_and_stores_nothing(demo_data):
    view = waiting_ticket()
    order_id = view["orderId"]
    forked, _ = fork(order_id, "TicketCreated")
    before = all_insert_only_counts()

    with pytest.raises(FailedPrecondition) as refused:
        services.revise_order(order_id, CREPES, "rev-1")

    assert "a forked order cannot be revised" in str(refused.value)
    assert [(d.field, d.issue) for d in refused.value.details] == [("orderId", "forked")]
    assert all_insert_only_counts() == before
    done = services.accept_ticket(view["kitchenTicketId"])
    assert done["state"] == "COMPLETED"
    assert [(line["menuItemId"], line["quantity"]) for line in done["lines"]] == [("omelette", 1)]
    decided = AcceptanceDecision.objects.filter(order_id=order_id).values_list("branch", "decided_by")
    assert list(decided) == [(forked.branch, "ACCEPTED")]
