"""Order revision: accepted, refused (too late, below minimum, declined re-authorization, cancelled), replayed."""

import datetime
import uuid
from collections import Counter
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from checkout import derived, services, tasks
from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.cancellation_decision.models import CancellationAccepted
from checkout.kitchen_task.models import KitchenTask
from checkout.models import OpenTicket, Restaurant
from checkout.payment_outcome.models import PaymentOutcome
from checkout.payments import GatewayUnavailable, SimulatedGateway
from pipelines.models import CheckpointLog, ParkedItem
from pipelines.recovery import retries, sweeper
from tests.checkout.conftest import checkpoint_types, place

REVISION_ROWS = Counter(
    {
        "RevisionRequested": 1,
        "AcceptanceDecision": 1,
        "PaymentReauthorized": 1,
        "RevisionAccepted": 1,
        "RevisedOrder": 1,
        "RevisedTicket": 1,
    }
)


def manual_order(**kwargs):
    return place(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 2}], **kwargs).view


def crepes(quantity):
    return {"items": [{"menuItemId": "crepe", "quantity": quantity}]}


def test_an_accepted_revision_changes_the_current_lines_total_and_what_the_kitchen_prepares(demo_data):
    view = manual_order()
    before = checkpoint_types(view["orderId"])

    result = services.revise_order(view["orderId"], crepes(3), "rev-1")

    revision_id = str(services.revision_id_for(uuid.UUID(view["orderId"]), "rev-1"))
    assert result["revision"] == {"revisionId": revision_id, "outcome": "ACCEPTED", "reason": None}
    order = result["order"]
    assert order["state"] == "AWAITING_ACCEPTANCE"
    assert order["orderTotal"] == "21.75"
    assert [(line["menuItemId"], line["quantity"]) for line in order["lines"]] == [("crepe", 3)]
    assert [(r["revisionId"], r["outcome"], r["orderTotal"]) for r in order["revisions"]] == [
        (revision_id, "ACCEPTED", "21.75")
    ]
    assert checkpoint_types(view["orderId"]) - before == REVISION_ROWS

    done = services.accept_ticket(view["kitchenTicketId"])
    assert done["state"] == "COMPLETED"
    tasks = KitchenTask.objects.filter(order_id=view["orderId"]).exclude(task_name="pack")
    assert [(t.menu_item_id, t.quantity) for t in tasks] == [("crepe", 3)]
    assert PaymentOutcome.objects.get(order_id=view["orderId"]).amount == Decimal("21.75")
    decisions = AcceptanceDecision.objects.filter(order_id=view["orderId"]).order_by("round")
    assert [(d.round, d.decided_by) for d in decisions] == [(1, "REVISED"), (2, "ACCEPTED")]


def test_revisions_in_sequence_each_apply_and_the_newest_is_current(demo_data):
    view = manual_order()
    first = services.revise_order(view["orderId"], crepes(1), "rev-a")
    second = services.revise_order(view["orderId"], crepes(4), "rev-b")

    assert first["revision"]["outcome"] == second["revision"]["outcome"] == "ACCEPTED"
    assert first["revision"]["revisionId"] != second["revision"]["revisionId"]
    assert second["order"]["orderTotal"] == "29.00"
    assert [r["requestId"] for r in second["order"]["revisions"]] == ["rev-a", "rev-b"]
    assert checkpoint_types(view["orderId"])["RevisedOrder"] == 2


def test_a_replayed_key_answers_the_same_and_inserts_nothing(demo_data):
    view = manual_order()
    first = services.revise_order(view["orderId"], crepes(2), "rev-1")
    rows = CheckpointLog.objects.count()

    again = services.revise_order(view["orderId"], crepes(2), "rev-1")
    assert again == first
    with pytest.raises(services.FailedPrecondition) as conflict:
        services.revise_order(view["orderId"], crepes(5), "rev-1")
    assert conflict.value.details[0].field == "Idempotency-Key"
    assert CheckpointLog.objects.count() == rows


def test_a_revision_after_the_restaurant_accepted_is_refused_as_too_late(demo_data):
    view = manual_order()
    services.accept_ticket(view["kitchenTicketId"])
    before = checkpoint_types(view["orderId"])

    result = services.revise_order(view["orderId"], crepes(2), "late")

    assert result["revision"]["outcome"] == "REFUSED" and result["revision"]["reason"] == "TOO_LATE"
    assert result["order"]["orderTotal"] == "19.00"
    assert checkpoint_types(view["orderId"]) - before == Counter({"RevisionRequested": 1, "RevisionRefused": 1})


def test_a_revision_of_an_order_placed_at_an_auto_restaurant_is_too_late(demo_data):
    view = place().view
    result = services.revise_order(view["orderId"], {"items": [{"menuItemId": "pepperoni", "quantity": 1}]}, "k")
    assert (result["revision"]["reason"], result["order"]["state"]) == ("TOO_LATE", "COMPLETED")


def test_a_revision_below_the_restaurant_minimum_is_refused_and_changes_nothing(demo_data):
    view = manual_order()
    Restaurant.objects.filter(pk="chez-manuel").update(order_minimum=Decimal("10.00"))
    before = checkpoint_types(view["orderId"])

    result = services.revise_order(view["orderId"], crepes(1), "small")

    assert result["revision"]["reason"] == "BELOW_MINIMUM"
    assert (result["order"]["orderTotal"], result["order"]["lines"][0]["menuItemId"]) == ("19.00", "omelette")
    assert checkpoint_types(view["orderId"]) - before == Counter({"RevisionRequested": 1, "RevisionRefused": 1})


def test_a_declined_reauthorization_refuses_the_revision_and_leaves_the_order_as_it_was(demo_data):
    view = manual_order(paymentToken="tok_reauth_declined")
    before = checkpoint_types(view["orderId"])

    result = services.revise_order(view["orderId"], crepes(3), "declined")

    assert result["revision"]["reason"] == "PAYMENT_DECLINED"
    assert result["order"]["orderTotal"] == "19.00"
    assert checkpoint_types(view["orderId"]) - before == Counter(
        {"RevisionRequested": 1, "AcceptanceDecision": 1, "ReauthorizationDeclined": 1, "RevisionRefused": 1}
    )
    done = services.accept_ticket(view["kitchenTicketId"])  # the refused revision's round is closed
    assert done["state"] == "COMPLETED"
    assert PaymentOutcome.objects.get(order_id=view["orderId"]).amount == Decimal("19.00")


def test_a_revision_of_a_cancelled_order_is_refused_and_a_cancel_after_a_revision_works(demo_data):
    view = manual_order()
    services.revise_order(view["orderId"], crepes(2), "before-cancel")
    cancelled = services.cancel_order(view["orderId"])
    assert cancelled["cancellation"] == {"outcome": "ACCEPTED", "reason": None}

    result = services.revise_order(view["orderId"], crepes(3), "after-cancel")
    assert (result["revision"]["reason"], result["order"]["state"]) == ("ORDER_CANCELLED", "CANCELLED")
    assert result["order"]["orderTotal"] == "14.50"


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"items": []},
        {"items": [{"menuItemId": "crepe", "quantity": 0}]},
        {"items": [{"menuItemId": "pizza", "quantity": 1}]},
        {"items": [{"menuItemId": "crepe", "quantity": 1, "price": 1}]},
        {"items": [{"menuItemId": "crepe", "quantity": 1}], "deliveryTime": "soon"},
    ],
)
def test_a_bad_revision_body_is_refused_and_stores_nothing(demo_data, body):
    view = manual_order()
    rows = CheckpointLog.objects.count()
    with pytest.raises(services.InvalidArgument):
        services.revise_order(view["orderId"], body, "bad")
    assert CheckpointLog.objects.count() == rows


def test_a_missing_key_or_an_unknown_order_is_refused_and_stores_nothing(demo_data):
    view = manual_order()
    rows = CheckpointLog.objects.count()
    with pytest.raises(services.InvalidArgument):
        services.revise_order(view["orderId"], crepes(1), None)
    with pytest.raises(services.NotFound):
        services.revise_order("7d7b1c1e-0000-4000-8000-000000000000", crepes(1), "k")
    assert CheckpointLog.objects.count() == rows


def test_the_lineage_shows_every_revision_under_the_order(demo_data):
    view = manual_order()
    services.revise_order(view["orderId"], crepes(1), "a")
    services.revise_order(view["orderId"], crepes(2), "b")

    def types(node):
        yield node["type"]
        for child in node["children"]:
            yield from types(child)

    tree = Counter(types(services.lineage(view["orderId"])))
    assert tree["RevisionRequested"] == tree["RevisedTicket"] == 2
    assert sum(tree.values()) == CheckpointLog.objects.filter(trace_id=view["orderId"]).count()


def test_a_revised_ticket_still_times_out_when_the_restaurant_never_answers(demo_data):
    start = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        view = manual_order()
        services.revise_order(view["orderId"], crepes(2), "before-timeout")
    assert list(OpenTicket.objects.values_list("order_id", flat=True)) == [uuid.UUID(view["orderId"])]
    derived.rebuild()  # the rebuild keeps what the triggers kept
    assert list(OpenTicket.objects.values_list("order_id", flat=True)) == [uuid.UUID(view["orderId"])]
    with time_machine.travel(start + datetime.timedelta(minutes=31), tick=False):
        assert tasks.expire_acceptance() == 1
    order = services.get_order(view["orderId"])
    assert (order["state"], order["reason"]) == ("CANCELLED", "ACCEPTANCE_TIMED_OUT")
    assert not OpenTicket.objects.exists()


class FlakyReauthorization(SimulatedGateway):
    """The simulator, whose re-authorization is unavailable on its first attempt."""

    def reauthorize(self, order_id, authorization_id, amount, currency, token, attempt):
        if attempt == 1:
            raise GatewayUnavailable("re-authorization unavailable (test gateway, attempt 1)")
        return super().reauthorize(order_id, authorization_id, amount, currency, token, attempt)


@pytest.mark.parametrize("ask_again", [True, False])
def test_a_revision_parked_at_its_reauthorization_holds_the_ticket_until_it_is_decided(demo_data, settings, ask_again):
    settings.TPFGO_PAYMENT_GATEWAY = "tests.checkout.test_revisions.FlakyReauthorization"
    view = manual_order()
    with pytest.raises(services.Unavailable):
        services.revise_order(view["orderId"], crepes(3), "parked")

    order = services.get_order(view["orderId"])
    assert [r["outcome"] for r in order["revisions"]] == ["PENDING"] and order["orderTotal"] == "19.00"
    assert order["stalled"]["step"] == "payment_reauthorized"
    before = checkpoint_types(view["orderId"])
    with pytest.raises(services.FailedPrecondition):
        services.accept_ticket(view["kitchenTicketId"])
    with pytest.raises(services.Unavailable):  # recorded, undecided: it waits for the revision
        services.cancel_order(view["orderId"])
    assert checkpoint_types(view["orderId"]) - before == Counter({"CancellationRequested": 1})

    parked = ParkedItem.objects.get(trace_id=view["orderId"])
    assert retries.run_attempt(parked.pk, 2, worker="w1") == "inserted"
    result = services.revise_order(view["orderId"], crepes(3), "parked")
    assert result["revision"]["outcome"] == "ACCEPTED" and result["order"]["orderTotal"] == "21.75"
    if ask_again:
        cancelled = services.cancel_order(view["orderId"])["cancellation"]
    else:  # nobody asks again: the sweeper resumes the recorded cancellation
        settings.TPFGO_RESUME_ENQUEUE = ""
        assert not CancellationAccepted.objects.filter(order_id=view["orderId"]).exists()
        sweeper.sweep(now=timezone.now() + datetime.timedelta(minutes=5))
        assert CancellationAccepted.objects.filter(order_id=view["orderId"]).exists()
        cancelled = services.cancel_order(view["orderId"])["cancellation"]  # now a replay
    assert cancelled == {"outcome": "ACCEPTED", "reason": None}
    claims = AcceptanceDecision.objects.filter(order_id=view["orderId"]).order_by("round")
    assert [(c.round, c.decided_by) for c in claims] == [(1, "REVISED"), (2, "CANCELLED")]
    assert services.get_order(view["orderId"])["state"] == "CANCELLED"


def test_a_revision_of_an_order_whose_placement_stopped_before_its_first_step_asks_again_and_stores_nothing(
    demo_data,
):
    # A pause holds the placement after OrderRequest, as a node dying mid-request leaves it (the sweeper resumes it).
    from pipelines.engine import pauses
    from pipelines.engine.registry import composition
    from pipelines.recovery import pausing

    pausing.pause(composition(), "checkout", "initial_order", actor="ops", reason="held like a cut placement")
    pauses.invalidate()
    view = manual_order()
    assert checkpoint_types(view["orderId"]) == Counter({"OrderRequest": 1})
    rows, parked = CheckpointLog.objects.count(), ParkedItem.objects.count()
    with pytest.raises(services.Unavailable):
        services.revise_order(view["orderId"], crepes(1), "too-early")
    assert (CheckpointLog.objects.count(), ParkedItem.objects.count()) == (rows, parked)


def test_a_revision_whose_first_step_fails_is_parked_with_its_command_and_retried(demo_data, monkeypatch):
    # The command is parked as JSON (ParkedItem.command): every value in it must be one JSON holds, the order's id
    # included, and the retry must run from what was stored.
    from checkout import selectors
    from pipelines.contracts.errors import RetryableError

    view = manual_order()
    menu, reads = selectors.menu, []

    def menu_down_once(restaurant_id):  # the request's validation reads the menu first, then the step does
        reads.append(restaurant_id)
        if len(reads) == 2:
            raise RetryableError("menu unavailable (test, the step's read)")
        return menu(restaurant_id)

    monkeypatch.setattr(selectors, "menu", menu_down_once)
    with pytest.raises(services.Unavailable):
        services.revise_order(view["orderId"], crepes(3), "menu-down")

    parked = ParkedItem.objects.get(trace_id=view["orderId"])
    assert (parked.step, parked.item_type) == ("revision_requested", "Command")
    assert parked.command["orderId"] == view["orderId"]
    assert checkpoint_types(view["orderId"])["RevisionRequested"] == 0
    assert retries.run_attempt(parked.pk, 2, worker="w1") == "inserted"
    result = services.revise_order(view["orderId"], crepes(3), "menu-down")
    assert result["revision"]["outcome"] == "ACCEPTED" and result["order"]["orderTotal"] == "21.75"
    assert checkpoint_types(view["orderId"])["RevisionRequested"] == 1
