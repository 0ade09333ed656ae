"""Each remediation, from a dead letter (or a review) to its terminal checkpoint; stale previews fail closed."""

from __future__ import annotations

import datetime
import json
import threading
import uuid
from collections import Counter

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from checkout import ops_actions, selectors, services
from checkout.models import Courier, CourierLoad
from checkout.ops_courier_choice.models import OpsCourierChoice
from checkout.order_cancelled.models import OrderCancelled
from checkout.order_ready_for_dispatch.models import OrderReadyForDispatch
from checkout.terminal_order_state import step as terminal_step
from pipelines import current_engine, storage
from pipelines.contracts.errors import NonRetryableError
from pipelines.contracts.status import FailedPrecondition, InvalidArgument, NotFound
from pipelines.engine.registry import composition
from pipelines.failures import parking
from pipelines.models import CheckpointLog, OpsAction, ParkedItem, ParkingOutcome
from pipelines.recovery import pausing, retries
from tests.checkout.conftest import checkpoint_types, order_body, place
from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db

WHO = {"actor": "ops:erin", "reason": "customer called"}


def dead_letter(order_id: str) -> ParkedItem:
    """Run the order's parked item until it is dead-lettered, the way the worker would."""
    for _ in range(20):
        failure = parking.open_failure(uuid.UUID(order_id))
        assert failure is not None
        if failure.dead_lettered:
            return failure.parked
        retries.run_attempt(failure.parked.pk, parking.last_attempt(failure.parked), worker="test")
    raise AssertionError("never dead-lettered")


def run(action: str, order_id: str, **params) -> dict:
    shown = ops_actions.preview(action, order_id, **params)
    assert shown["allowed"], shown["why"]
    return ops_actions.execute(action, order_id, expected_seq=shown["expectedSeq"], **WHO, **params)


def publications(order_id: str) -> set[str]:
    return set(
        CheckpointLog.objects.filter(trace_id=order_id).exclude(publication="").values_list("publication", flat=True)
    )


def test_redrive_reruns_a_dead_letter_from_its_last_checkpoint_and_completes(demo_data):
    order_id = place(paymentToken="tok_flaky_4").view["orderId"]
    parked = dead_letter(order_id)
    assert ops_actions.preview("redrive", order_id)["inserts"][0] == {
        "type": "RetryScheduled",
        "summary": "attempt 5 of consumer-validation/payment_authorized, sent to no worker (one gets it a grace "
        "period later only if this run dies first)",
    }

    view = run("redrive", order_id)

    assert view["state"] == "COMPLETED" and view["stalled"] is None
    assert ParkingOutcome.objects.filter(parked=parked).latest("id").outcome == "resolved"
    assert checkpoint_types(order_id)["PaymentAuthorized"] == 1
    action = OpsAction.objects.get(pk=view["opsActionId"])
    assert (action.action, action.actor, action.reason, action.target_id) == (
        "redrive",
        "ops:erin",
        "customer called",
        parked.pk,
    )
    assert action.result == {"parkedId": str(parked.pk), "attempt": 5, "status": "inserted"}


def test_a_stale_preview_is_refused_and_inserts_nothing(demo_data):
    order_id = place(paymentToken="tok_flaky_4").view["orderId"]
    dead_letter(order_id)
    shown = ops_actions.preview("ops-cancel", order_id)
    run("redrive", order_id)  # the order moves on after the preview
    before = all_insert_only_counts()

    with pytest.raises(FailedPrecondition, match="changed since the preview"):
        ops_actions.execute("ops-cancel", order_id, expected_seq=shown["expectedSeq"], **WHO)

    assert all_insert_only_counts() == before


def test_a_confirm_sent_while_another_action_on_the_order_runs_is_refused_and_inserts_nothing(demo_data):
    from django.db import connections

    from pipelines.store import claim_locks

    order_id = place(paymentToken="tok_flaky_4").view["orderId"]
    dead_letter(order_id)
    shown = ops_actions.preview("redrive", order_id)
    holding, done = threading.Event(), threading.Event()

    def first_confirm_running() -> None:  # another session (a thread has its own connection) inside the action
        try:
            with claim_locks.exclusive("ops-action", uuid.UUID(order_id)) as alone:
                assert alone
                holding.set()
                done.wait(10)
        finally:
            connections.close_all()

    other = threading.Thread(target=first_confirm_running)
    other.start()
    assert holding.wait(10)
    before = all_insert_only_counts()
    try:
        with pytest.raises(FailedPrecondition, match="another ops action on this trace is running"):
            ops_actions.execute("redrive", order_id, expected_seq=shown["expectedSeq"], **WHO)
    finally:
        done.set()
        other.join()
    assert all_insert_only_counts() == before

    ops_actions.execute("redrive", order_id, expected_seq=shown["expectedSeq"], **WHO)  # its turn once it ended
    assert OpsAction.objects.filter(action="redrive").count() == 1


def test_a_remediation_needs_a_reason_a_known_order_and_a_known_action(demo_data):
    order_id = place().view["orderId"]
    seq = ops_actions.preview("ops-cancel", order_id)["expectedSeq"]
    before = all_insert_only_counts()
    with pytest.raises(InvalidArgument) as missing:
        ops_actions.execute("ops-cancel", order_id, actor="ops:erin", reason=" ", expected_seq=seq)
    assert [d.field for d in missing.value.details] == ["reason"]
    with pytest.raises(NotFound):
        ops_actions.preview("ops-cancel", str(uuid.uuid4()))
    with pytest.raises(InvalidArgument):
        ops_actions.preview("refund-everything", order_id)
    with pytest.raises(InvalidArgument):
        ops_actions.preview("assign-courier", order_id, courier_id="nobody")
    assert all_insert_only_counts() == before


@pytest.mark.parametrize(
    ("action", "params", "message", "fields"),
    [
        ("ops-cancel", {"courier_id": "c1"}, "ops-cancel takes no courierId", ["courierId"]),
        (
            "redrive",
            {"approved": True, "courier_id": "c1"},
            "redrive takes no approved, courierId",
            ["approved", "courierId"],
        ),
        (
            "assign-courier",
            {"courier_id": "c1", "new_effect_keys": True, "checkpoint_id": "x"},
            "assign-courier takes no checkpointId, newEffectKeys",
            ["checkpointId", "newEffectKeys"],
        ),
    ],
)
def test_a_parameter_of_another_action_is_refused_by_its_field_name(demo_data, action, params, message, fields):
    order_id = place().view["orderId"]
    seq = ops_actions.preview("ops-cancel", order_id)["expectedSeq"]
    before = all_insert_only_counts()
    for call in (
        lambda: ops_actions.preview(action, order_id, **params),
        lambda: ops_actions.execute(action, order_id, expected_seq=seq, **WHO, **params),
    ):
        with pytest.raises(InvalidArgument) as refused:
            call()
        assert refused.value.message == message
        assert [(d.field, d.issue) for d in refused.value.details] == [(f, "not a parameter") for f in fields]
    assert all_insert_only_counts() == before


def test_an_action_not_allowed_in_the_orders_state_is_previewed_as_such_and_refused(demo_data):
    order_id = place().view["orderId"]  # COMPLETED
    shown = ops_actions.preview("ops-cancel", order_id)
    assert (shown["allowed"], shown["why"]) == (False, "the order is already COMPLETED")
    assert ops_actions.preview("redrive", order_id)["why"] == "nothing is dead-lettered for this order"
    with pytest.raises(FailedPrecondition, match="already COMPLETED"):
        ops_actions.execute("ops-cancel", order_id, expected_seq=shown["expectedSeq"], **WHO)
    assert OpsAction.objects.count() == 0


def test_assign_courier_records_the_choice_and_dispatch_uses_it(demo_data):
    Courier.objects.update(available=False)
    order_id = place().view["orderId"]
    assert parking.open_failure(uuid.UUID(order_id)).parked.pipeline == "dispatch"
    shown = ops_actions.preview("assign-courier", order_id, courier_id="courier-ben")
    assert [i["type"] for i in shown["inserts"]] == [
        "OpsCourierChoice",
        "RetryScheduled",
        "DeliveryAssigned",
        "OpsAction",
    ]

    view = run("assign-courier", order_id, courier_id="courier-ben")

    assert (view["state"], view["courierId"], view["stalled"]) == ("COMPLETED", "courier-ben", None)
    assert OpsCourierChoice.objects.get().chosen_by == "ops:erin"
    assert "tpfgo.dispatch.delivery-assigned.v1" in publications(order_id)
    assert "tpfgo.ops.courier-chosen.v1" in publications(order_id)


def test_assign_courier_after_dispatch_dead_lettered(demo_data, settings):
    settings.TPFGO_RETRY_POLICIES = {"dispatch.delivery_assigned": {"max_attempts": 2}}
    Courier.objects.update(available=False)
    order_id = place().view["orderId"]
    dead_letter(order_id)
    assert selectors.delivery(uuid.UUID(order_id)) is None

    view = run("assign-courier", order_id, courier_id="courier-ann")

    assert (view["state"], view["courierId"]) == ("COMPLETED", "courier-ann")
    assert checkpoint_types(order_id)["DeliveryAssigned"] == 1


def test_ops_cancel_of_a_dead_letter_before_authorization_cancels_without_a_void(demo_data):
    order_id = place(paymentToken="tok_down").view["orderId"]
    dead_letter(order_id)

    view = run("ops-cancel", order_id)

    assert (view["state"], view["reason"], view["stalled"]) == ("CANCELLED", "OPS_CANCELLED", None)
    types = checkpoint_types(order_id)
    assert types["OpsCancellation"] == 1 and types["OrderCancelled"] == 1
    assert types["AuthorizationVoided"] == 0 and types["RefundIssued"] == 0
    assert "tpfgo.ops.order-cancelled.v1" in publications(order_id)
    assert ParkingOutcome.objects.latest("id").outcome == "cancelled"


def test_ops_cancel_voids_an_authorization_and_stops_pending_retries(demo_data):
    Courier.objects.update(available=False)
    order_id = place().view["orderId"]
    parked = parking.open_failure(uuid.UUID(order_id)).parked
    assert [i["type"] for i in ops_actions.preview("ops-cancel", order_id)["inserts"]] == [
        "OpsCancellation",
        "AuthorizationVoided",
        "OrderCancelled",
        "ParkingOutcome",
        "OpsAction",
    ]

    view = run("ops-cancel", order_id)

    assert view["state"] == "CANCELLED"
    assert selectors.is_voided(uuid.UUID(order_id))
    Courier.objects.update(available=True)
    assert retries.run_attempt(parked.pk, 2, worker="late") == "closed"
    assert checkpoint_types(order_id)["DeliveryAssigned"] == 0


def test_ops_cancel_of_an_order_a_paused_step_holds_says_it_is_held_not_retrying(demo_data):
    pausing.pause(composition(), "payment-capture", "payment_outcome", actor="ops", reason="gateway down")
    order_id = place().view["orderId"]
    parked = [
        i["summary"] for i in ops_actions.preview("ops-cancel", order_id)["inserts"] if i["type"] == "ParkingOutcome"
    ]
    assert parked == [
        "cancelled: payment-capture/payment_outcome, held by a paused step (gateway down), is not run when the step "
        "is resumed"
    ]


def test_ops_cancel_of_a_captured_order_refunds_it(demo_data, monkeypatch):
    class Broken:
        def payment_outcome(self, order_id):
            raise NonRetryableError("finalization bug", code="INVALID_DATA")

    monkeypatch.setattr(terminal_step, "selectors", Broken())
    order_id = place().view["orderId"]  # captured, then 08 dead-letters at once
    monkeypatch.undo()
    assert parking.open_failure(uuid.UUID(order_id)).dead_lettered

    view = run("ops-cancel", order_id)

    types = checkpoint_types(order_id)
    assert (types["RefundIssued"], types["AuthorizationVoided"], types["OrderCancelled"]) == (1, 0, 1)
    assert view["state"] == "CANCELLED" and OrderCancelled.objects.get().reason == "OPS_CANCELLED"


@pytest.mark.parametrize(("approved", "label", "voids"), [(True, "COMPLETED", 0), (False, "PAYMENT_FAILED", 1)])
def test_resolve_payment_review_finalizes_the_order(demo_data, approved, label, voids):
    order_id = place(consumer="dave").view["orderId"]
    assert selectors.payment_outcome(uuid.UUID(order_id)).variant == "requires_review"

    view = run("resolve-payment-review", order_id, approved=approved)

    assert view["state"] == label
    types = checkpoint_types(order_id)
    assert (types["PaymentReviewResolved"], types["TerminalOrderState"], types["AuthorizationVoided"]) == (1, 1, voids)
    assert "tpfgo.ops.payment-review-resolved.v1" in publications(order_id)
    if approved:
        assert view["paymentId"].startswith("pay_")


def test_resolve_payment_review_is_refused_without_a_review(demo_data):
    order_id = place().view["orderId"]
    assert ops_actions.preview("resolve-payment-review", order_id, approved=True)["why"] == (
        "the order's payment does not require review"
    )


def test_the_management_command_previews_and_executes(demo_data, capsys):
    order_id = place(consumer="dave").view["orderId"]
    call_command("remediate", "resolve-payment-review", order_id, "--approve", "--preview")
    shown = json.loads(capsys.readouterr().out)
    assert shown["allowed"] and OpsAction.objects.count() == 0

    with pytest.raises(CommandError, match="INVALID_ARGUMENT"):
        call_command("remediate", "resolve-payment-review", order_id, "--approve")
    call_command(
        "remediate", "resolve-payment-review", order_id, "--approve", "--reason", "issuer ok", "--actor", "ops:kim"
    )

    view = json.loads(capsys.readouterr().out)
    assert view["state"] == "COMPLETED"
    assert OpsAction.objects.get().actor == "ops:kim"
    assert Counter(checkpoint_types(order_id))["TerminalOrderState"] == 1


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["assign-courier", "--preview"], "INVALID_ARGUMENT: assign-courier needs a courier (--courier: is required)"),
        (
            ["resolve-payment-review", "--preview"],
            "INVALID_ARGUMENT: resolve-payment-review needs a decision (approve or decline) "
            "(--approve/--decline: is required)",
        ),
        (["fork", "--preview"], "INVALID_ARGUMENT: fork needs the checkpoint to fork from (--checkpoint: is required)"),
        (
            ["ops-cancel", "--reason", "a\x01b"],
            "INVALID_ARGUMENT: a remediation needs who runs it (actor) and why (reason) "
            "(--reason: must not contain control characters)",
        ),
    ],
)
def test_the_management_commands_refusal_names_the_flag_the_operator_typed(demo_data, arguments, says):
    order_id = place().view["orderId"]
    before = all_insert_only_counts()
    with pytest.raises(CommandError) as refused:
        call_command("remediate", arguments[0], order_id, *arguments[1:])
    assert str(refused.value) == says
    assert all_insert_only_counts() == before


def test_every_action_parameter_is_given_by_one_remediate_flag_that_names_its_field():
    from checkout.management.commands import remediate

    parameters = set().union(*ops_actions.PARAMS.values())
    assert set(ops_actions.FIELDS) == parameters
    assert set(remediate.FLAGS) == parameters
    parser = remediate.Command().create_parser("manage.py", "remediate")
    assert parameters <= {argument.dest for argument in parser._actions}
    for name, flag in remediate.FLAGS.items():
        assert remediate.FIELD_FLAGS[ops_actions.FIELDS[name]] == flag


def test_a_stale_expected_seq_the_operator_typed_is_named_by_its_flag(demo_data):
    order_id = place().view["orderId"]
    before = all_insert_only_counts()
    with pytest.raises(CommandError) as refused:
        call_command("remediate", "ops-cancel", order_id, "--expected-seq", "1", "--reason", "r", "--actor", "ops:kim")
    assert str(refused.value).endswith("preview again (--expected-seq: stale)")
    assert all_insert_only_counts() == before


def test_ops_cancel_of_an_order_waiting_for_its_restaurant_closes_the_ticket(demo_data, time_machine):
    from checkout import services, tasks

    view = place(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
    order_id, ticket_id = view["orderId"], view["kitchenTicketId"]
    assert view["state"] == "AWAITING_ACCEPTANCE"

    view = run("ops-cancel", order_id)

    assert (view["state"], view["reason"]) == ("CANCELLED", "OPS_CANCELLED")
    assert selectors.acceptance(uuid.UUID(order_id)).decided_by == "CANCELLED"
    with pytest.raises(FailedPrecondition):
        services.accept_ticket(ticket_id)
    time_machine.move_to(timezone.now() + datetime.timedelta(hours=2))
    assert tasks.expire_acceptance() == 0
    assert checkpoint_types(order_id)["OrderAcceptedByRestaurant"] == 0


def test_ops_cancel_of_an_order_waiting_for_its_courier_refuses_the_pickup(demo_data):
    from checkout import services

    Courier.objects.filter(completion_mode="auto").update(available=False)
    Courier.objects.filter(id="courier-max").update(available=True)
    view = place().view
    assert view["state"] == "DISPATCHED"

    run("ops-cancel", view["orderId"])

    with pytest.raises(FailedPrecondition, match="already CANCELLED"):
        services.pickup(view["dispatchId"])
    assert checkpoint_types(view["orderId"])["OrderPickedUp"] == 0


def test_dispatch_reads_the_ops_choice_and_the_available_couriers_together_as_each_selector_would(demo_data):
    Courier.objects.update(available=False)
    Courier.objects.filter(id="courier-max").update(available=True)
    assert place().view["courierId"] == "courier-max"  # confirms by hand: one active delivery
    Courier.objects.update(available=False)
    order_id = uuid.UUID(place().view["orderId"])  # parked at dispatch: no courier available
    Courier.objects.filter(id__in=["courier-ann", "courier-ben"]).update(available=True)
    with storage.read_scope():  # the loads of every courier with a load row, candidate or not
        assert selectors.dispatch_candidates(order_id) == (None, ["courier-ann", "courier-ben"], {"courier-max": 1})
    ready = selectors.fact(OrderReadyForDispatch, order_id)
    current_engine().run("assign-courier", ready, event={"courierId": "courier-ben", "by": "ops:erin"})

    with storage.read_scope():
        chosen, available, loads = selectors.dispatch_candidates(order_id)
    assert (chosen, available) == ("courier-ben", ["courier-ann", "courier-ben"])
    assert (chosen, available) == (selectors.ops_courier_choice(order_id), selectors.available_couriers())
    assert loads == {"courier-max": 1}
    assert selectors.active_deliveries(available, loads) == selectors.active_deliveries(available)


def test_a_single_orders_dispatch_reads_the_couriers_loads_with_the_candidates(demo_data):
    Courier.objects.filter(pk__in=["courier-ann", "courier-ben"]).update(completion_mode=Courier.MANUAL)
    with CaptureQueriesContext(connection) as queries:
        couriers = [services.place_order(order_body(), f"load-{n}").view["courierId"] for n in range(3)]

    # The fewest active deliveries, then the lowest id: the loads read with the candidates are the stored ones.
    assert couriers == ["courier-ann", "courier-ben", "courier-ann"]
    assert dict(CourierLoad.objects.values_list("courier_id", "active")) == {"courier-ann": 2, "courier-ben": 1}
    # No look-up of the loads of its own (the ORM's ``courier_id IN (...)``): they came with the candidates.
    own = [q["sql"] for q in queries.captured_queries if '"checkout_courierload"."courier_id" IN' in q["sql"]]
    assert own == []
