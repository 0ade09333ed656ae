"""A fork whose first step fails (or is held by a paused step): its parked item keeps the fork's branch, so its
retry, its redrive, a bulk redrive of its dead letter and the release of its hold run on the fork, and the order's
view (the fork's) moves when one succeeds; a later fork closes it as superseded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from checkout import bulk_remediation, bulk_selection, ops_actions, services
from checkout.consumer_verified.models import ConsumerVerified
from checkout.payment_authorized.models import PaymentAuthorized
from checkout.terminal_order_state.models import TerminalOrderState
from pipelines.engine.registry import composition
from pipelines.failures import parking
from pipelines.models import (
    MAIN_BRANCH,
    ErrorSinkEntry,
    ForkedFrom,
    OpsAction,
    ParkedItem,
    ParkingOutcome,
    PausedItem,
)
from pipelines.recovery import drain, pausing, retries
from tests.checkout import recording_gateway
from tests.checkout.conftest import place

pytestmark = pytest.mark.django_db

WHO = {"actor": "ops:erin", "reason": "re-run the authorization"}


@pytest.fixture
def outage(settings) -> Iterator[dict[str, int]]:
    """The gateway simulator with an outage knob: set ``["authorizations"]`` to fail that many authorizations."""
    settings.TPFGO_PAYMENT_GATEWAY = "tests.checkout.recording_gateway.OutageGateway"
    recording_gateway.OUTAGE["authorizations"] = 0
    yield recording_gateway.OUTAGE
    recording_gateway.OUTAGE["authorizations"] = 0


def fork_from_verification(order_id: str) -> ForkedFrom:
    """Fork the order from its ``ConsumerVerified``: the fork's first step is the payment authorization."""
    verified = str(ConsumerVerified.objects.get(order_id=order_id).pk)
    shown = ops_actions.preview("fork", order_id, checkpoint_id=verified)
    assert shown["allowed"], shown["why"]
    ops_actions.execute("fork", order_id, expected_seq=shown["expectedSeq"], checkpoint_id=verified, **WHO)
    return ForkedFrom.objects.get(trace_id=order_id)


def by_branch(model, order_id: str) -> set[str]:  # type: ignore[no-untyped-def]
    return set(model.objects.filter(order_id=order_id).values_list("branch", flat=True))


def test_a_forks_failed_first_step_is_parked_on_the_fork_and_its_retry_completes_the_fork(demo_data, outage):
    order_id = place().view["orderId"]
    outage["authorizations"] = 1

    forked = fork_from_verification(order_id)

    parked = ParkedItem.objects.get(trace_id=order_id)
    assert (parked.step, parked.branch) == ("payment_authorized", forked.branch)
    assert services.get_order(order_id)["state"] == "APPROVAL_PENDING"
    assert retries.run_attempt(parked.pk, 2, worker="test") == "inserted"

    view = services.get_order(order_id)
    assert view["state"] == "COMPLETED" and view["stalled"] is None
    assert (
        by_branch(PaymentAuthorized, order_id)
        == by_branch(TerminalOrderState, order_id)
        == {
            MAIN_BRANCH,
            forked.branch,
        }
    )
    assert list(ParkingOutcome.objects.filter(parked=parked).values_list("outcome", "attempts")) == [("resolved", 2)]


def test_a_dead_lettered_forks_first_step_is_redriven_on_the_fork(demo_data, outage):
    order_id = place().view["orderId"]
    outage["authorizations"] = 4
    forked = fork_from_verification(order_id)
    for attempt in (2, 3, 4):
        assert retries.run_attempt(ParkedItem.objects.get(trace_id=order_id).pk, attempt, worker="test") == "failed"
    assert services.get_order(order_id)["stalled"]["deadLettered"]

    shown = ops_actions.preview("redrive", order_id)
    view = ops_actions.execute("redrive", order_id, expected_seq=shown["expectedSeq"], **WHO)

    assert view["state"] == "COMPLETED" and view["stalled"] is None
    assert by_branch(TerminalOrderState, order_id) == {MAIN_BRANCH, forked.branch}


def test_a_bulk_redrive_of_a_forks_dead_letter_runs_on_the_fork(demo_data, outage, settings):
    settings.TPFGO_RETRY_POLICIES = {"consumer-validation.payment_authorized": {"max_attempts": 1}}
    order_id = place().view["orderId"]
    outage["authorizations"] = 1
    forked = fork_from_verification(order_id)
    found = bulk_selection.select(bulk_selection.parse("dead_letter", step="payment_authorized"))
    assert found == [uuid.UUID(order_id)]

    shown = bulk_remediation.preview("redrive", found)
    run = bulk_remediation.submit("redrive", bulk_remediation.plan_of(shown), **WHO)
    progress = bulk_remediation.advance(run.id)

    assert (progress["finished"], progress["done"], progress["failed"]) == (True, 1, 0)
    assert services.get_order(order_id)["state"] == "COMPLETED"
    assert by_branch(TerminalOrderState, order_id) == {MAIN_BRANCH, forked.branch}


def test_a_fork_failing_where_its_parent_once_failed_gets_a_parked_item_and_sink_entry_of_its_own(demo_data):
    """The parent's first authorization failed and its retry succeeded; the fork's first authorization (attempt 1
    again, same input) fails too: it is a failure of its own, not one joined to the parent's closed item."""
    order_id = place(paymentToken="tok_flaky_1").view["orderId"]
    main_item = ParkedItem.objects.get(trace_id=order_id)
    retries.run_attempt(main_item.pk, 2, worker="test")
    assert services.get_order(order_id)["state"] == "COMPLETED"

    forked = fork_from_verification(order_id)

    fork_item = ParkedItem.objects.exclude(pk=main_item.pk).get(trace_id=order_id)
    assert (fork_item.item_id, fork_item.branch, main_item.branch) == (main_item.item_id, forked.branch, MAIN_BRANCH)
    failed_first = ErrorSinkEntry.objects.filter(trace_id=order_id, attempt=1).values_list("branch", flat=True)
    assert sorted(failed_first) == sorted([MAIN_BRANCH, forked.branch])
    assert services.get_order(order_id)["stalled"]["attempts"] == 1  # the fork's, not the parent's as well
    assert parking.open_items(uuid.UUID(order_id)) == [fork_item]
    assert retries.run_attempt(fork_item.pk, 2, worker="test") == "inserted"
    assert services.get_order(order_id)["state"] == "COMPLETED"
    assert by_branch(PaymentAuthorized, order_id) == {MAIN_BRANCH, forked.branch}


def test_a_later_fork_closes_an_earlier_forks_failed_item_as_superseded(demo_data, outage):
    """The earlier fork's item waits on an input the later fork still sees (before its fork point), but on a branch
    the order no longer shows: it is closed, not left retrying there."""
    order_id = place().view["orderId"]
    outage["authorizations"] = 1
    first = fork_from_verification(order_id)
    earlier = ParkedItem.objects.get(trace_id=order_id, branch=first.branch)
    authorized = str(PaymentAuthorized.objects.get(order_id=order_id, branch=MAIN_BRANCH).pk)

    shown = ops_actions.preview("fork", order_id, checkpoint_id=authorized)
    assert [i["summary"] for i in shown["inserts"] if i["type"] == "ParkingOutcome"] == [
        "cancelled: consumer-validation/payment_authorized, on a branch the fork supersedes"
    ]
    done = ops_actions.execute("fork", order_id, expected_seq=shown["expectedSeq"], checkpoint_id=authorized, **WHO)

    assert done["state"] == "COMPLETED"
    closed = ParkingOutcome.objects.filter(parked=earlier)
    assert list(closed.values_list("outcome", "reason")) == [("cancelled", "superseded by a fork")]
    assert OpsAction.objects.filter(action="fork").latest("created_at").result["closedParkedIds"] == [str(earlier.pk)]
    assert parking.open_items(uuid.UUID(order_id)) == []
    assert retries.run_attempt(earlier.pk, 2, worker="test") == "closed"


def test_a_fork_from_where_an_earlier_forks_item_stopped_closes_it_and_the_same_fork_again_is_refused(
    demo_data, outage
):
    order_id = place().view["orderId"]
    outage["authorizations"] = 1
    first = fork_from_verification(order_id)
    earlier = ParkedItem.objects.get(trace_id=order_id, branch=first.branch)
    verified = str(ConsumerVerified.objects.get(order_id=order_id).pk)

    again = ops_actions.preview("fork", order_id, checkpoint_id=verified)
    assert not again["allowed"]
    assert again["why"].startswith(
        "consumer-validation/payment_authorized stopped on this ConsumerVerified and is still open (still retrying)"
    )
    other = ops_actions.preview("fork", order_id, checkpoint_id=verified, new_effect_keys=True)
    assert other["allowed"], other["why"]
    assert [i["summary"] for i in other["inserts"] if i["type"] == "ParkingOutcome"] == [
        "cancelled: consumer-validation/payment_authorized, on a branch the fork supersedes"
    ]
    assert ParkingOutcome.objects.filter(parked=earlier).count() == 0


def test_a_forks_first_step_held_by_a_paused_step_is_released_onto_the_fork(demo_data):
    order_id = place().view["orderId"]
    authorize = ("consumer-validation", "payment_authorized")
    paused = pausing.pause(composition(), *authorize, actor="ops:erin", reason="gateway maintenance")
    forked = fork_from_verification(order_id)
    [held] = PausedItem.objects.filter(pause=paused)
    assert (held.parked.branch, services.get_order(order_id)["state"]) == (forked.branch, "APPROVAL_PENDING")

    pausing.resume(paused.id, actor="ops:erin", reason="maintenance over")
    assert drain.release(paused.id) == 1
    assert retries.run_attempt(held.parked_id, held.attempt, worker="test") == "inserted"

    assert services.get_order(order_id)["state"] == "COMPLETED"
    assert by_branch(TerminalOrderState, order_id) == {MAIN_BRANCH, forked.branch}


def test_bulk_selection_by_error_code_reads_the_forks_failures_not_its_parents(demo_data, outage, settings):
    outage["authorizations"] = 1
    order_id = place().view["orderId"]  # the parent's authorization fails (PAYMENT_GATEWAY_UNAVAILABLE) once
    [parent_item] = ParkedItem.objects.filter(trace_id=order_id)
    assert retries.run_attempt(parent_item.pk, 2, worker="test") == "inserted"
    settings.TPFGO_PAYMENT_GATEWAY = "tests.checkout.recording_gateway.EchoingGateway"

    forked = fork_from_verification(order_id)  # the fork's authorization fails as UNEXPECTED

    failures = ErrorSinkEntry.objects.filter(trace_id=order_id).values_list("branch", "error_code")
    assert sorted(failures) == sorted([(MAIN_BRANCH, "PAYMENT_GATEWAY_UNAVAILABLE"), (forked.branch, "UNEXPECTED")])
    [open_item] = ParkedItem.objects.filter(trace_id=order_id, branch=forked.branch)

    def chosen(**filters: str) -> list[uuid.UUID]:
        return bulk_selection.select(bulk_selection.parse("stalled", **filters))

    assert chosen(code="PAYMENT_GATEWAY_UNAVAILABLE") == []
    assert chosen(error_class="checkout.payments.GatewayUnavailable") == []
    assert chosen(code="UNEXPECTED") == [open_item.trace_id]
    assert chosen(error_class="builtins.RuntimeError") == [open_item.trace_id]
