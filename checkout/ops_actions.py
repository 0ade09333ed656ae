"""What each ops action means for an order (docs/chain.md): redrive, assign-courier, ops-cancel, resolve-payment-review,
fork (``checkout.fork_action``).

The ops console and ``manage.py remediate`` call ``preview`` then ``execute``. A preview says what the action would
insert and the order's newest checkpoint position (``expectedSeq``); ``execute`` refuses (``FailedPrecondition``)
when the order moved on since, or when the action is not allowed in the order's state. Every execution runs
through the engine (insert-only, deterministic ids) and is recorded in an ``OpsAction`` with who, why and what.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from checkout import contracts, fork_action, selectors, services, state
from checkout.action_plan import Plan
from checkout.models import Courier
from checkout.order_cancelled.models import OrderCancelled
from checkout.order_ready_for_dispatch.models import OrderReadyForDispatch
from checkout.order_request.models import OrderRequest
from checkout.order_view import render
from checkout.payment_review_resolved.models import PaymentReviewResolved
from pipelines import (
    Detail,
    FailedPrecondition,
    InvalidArgument,
    StepStatus,
    actions,
    close_open,
    composition,
    current_engine,
    last_attempt,
    open_failure,
    open_hold,
    open_items,
)
from pipelines.models import OpenWait, ParkedItem

ACTIONS = ("redrive", "assign-courier", "ops-cancel", "resolve-payment-review", "fork")
PARAMS: Mapping[str, frozenset[str]] = {
    "redrive": frozenset(),
    "assign-courier": frozenset({"courier_id"}),
    "ops-cancel": frozenset(),
    "resolve-payment-review": frozenset({"approved"}),
    "fork": frozenset({"checkpoint_id", "new_effect_keys"}),
}
# A parameter as a refusal names it: the field the action's other refusals name (courierId, not courier_id).
FIELDS: Mapping[str, str] = {
    "courier_id": "courierId",
    "approved": "approved",
    "checkpoint_id": "checkpointId",
    "new_effect_keys": "newEffectKeys",
}


def preview(action: str, order_id: object, **params: object) -> dict[str, Any]:
    """What ``action`` would insert for the order, whether it is allowed now, and the position it was shown at."""
    request = _order(order_id)
    expected = actions.newest_seq(request.order_id)
    plan = _plan(action, request, params)
    return {
        "action": action,
        "orderId": str(request.order_id),
        "expectedSeq": expected,
        "inserts": plan.inserts,
        "allowed": plan.why is None,
        "why": plan.why,
    }


def execute(
    action: str,
    order_id: object,
    *,
    actor: str,
    reason: str,
    expected_seq: int,
    action_id: uuid.UUID | None = None,
    note: Mapping[str, Any] | None = None,
    **params: object,
) -> dict[str, Any]:
    """Run ``action`` if the order is still where the preview showed it; returns the order view after it.

    A bulk run passes its deterministic ``action_id`` for the order and a ``note`` kept in the audit row's result.
    """
    actor, reason = actions.check_who(actor, reason)
    request = _order(order_id)
    with actions.exclusively(request.order_id), _in_turn(action, request.order_id):
        actions.check_fresh(request.order_id, expected_seq)
        plan = _plan(action, request, params)
        if plan.why is not None or plan.run is None:
            raise FailedPrecondition(plan.why or "not allowed", [Detail("action", "not allowed in the order's state")])
        result, target = plan.run(actor, reason)
        row = actions.record(
            action,
            request.order_id,
            actor=actor,
            reason=reason,
            preview_seq=int(expected_seq),
            result={**result, **(note or {})},
            target_id=target,
            action_id=action_id or plan.action_id,
        )
    return {**render(state.order_view(request.order_id)), "opsActionId": str(row.id)}


# Actions that take the order's turn (``actions.in_turn``, its decisions' lock) from the stale check to the audit row:
# a fork, whose first step and the closing of the waits it supersedes a deadline's round must not run between (the
# deadline pass takes the same turn), nor the restaurant's answer, the courier's event or the consumer's cancellation
# or revision (``services._decide``, ``pickup``, ``dropoff``, ``cancel_order``, ``revise_order`` take it too);
# ops-cancel, which claims a waiting ticket's decision, voids and cancels on what its stale check saw: a review's or
# an acceptance's deadline round run meanwhile would decline or time out, and void, beside it.
# resolve-payment-review takes it around its own run (``one_at_a_time``).
IN_TURN = frozenset({"fork", "ops-cancel"})


def _in_turn(action: str, order_id: uuid.UUID) -> AbstractContextManager[None]:
    """The order's turn for an action of ``IN_TURN``, taken after ``actions.exclusively`` (a second confirm is refused,
    not kept waiting): a deadline's round that ran first is a checkpoint the preview did not show, so the stale check
    refuses the fork (preview again), storing nothing."""
    return actions.in_turn(order_id) if action in IN_TURN else nullcontext()


def applicability(order_id: object) -> dict[str, str | None]:
    """Every action → None when it applies to the order now, else the one-line reason why it does not.

    Asks what each action's plan asks, without its parameters: a courier or a decision is chosen on the confirm
    page, so "applies" means some choice could run.
    """
    request = _order(order_id)
    if selectors.is_terminal(request.order_id):
        why = f"the order is already {state.order_view(request.order_id).state}"
        return dict.fromkeys(ACTIONS, why)
    return {
        "redrive": _redrive(request, {}).why,
        "assign-courier": _why_not_assign(request.order_id, None),
        "ops-cancel": None,
        "resolve-payment-review": _why_not_resolve(request.order_id, None),
    }


def _order(order_id: object) -> OrderRequest:
    request = selectors.order_request(services.parse_id(order_id, "order"))
    if request is None:
        raise services.missing_order(order_id, dated_for_ops=True)  # the console and remediate: ops
    return request


def _plan(action: str, request: OrderRequest, params: Mapping[str, Any]) -> Plan:
    if action not in ACTIONS:
        raise InvalidArgument(
            f"unknown remediation {action!r}; one of {', '.join(ACTIONS)}", [Detail("action", "unknown")]
        )
    unknown = sorted(FIELDS.get(k, k) for k, v in params.items() if v is not None and k not in PARAMS[action])
    if unknown:
        raise InvalidArgument(
            f"{action} takes no {', '.join(unknown)}", [Detail(k, "not a parameter") for k in unknown]
        )
    order_id = request.order_id
    plan = {
        "redrive": _redrive,
        "assign-courier": _assign_courier,
        "ops-cancel": _ops_cancel,
        "resolve-payment-review": _resolve_review,
        "fork": fork_action.plan,
    }[action](request, params)
    # A fork re-runs an order whatever its state (re-running a finished one is what it is for).
    if plan.why is None and action != "fork" and selectors.is_terminal(order_id):
        plan.why = f"the order is already {state.order_view(order_id).state}"
    if plan.why is None:
        plan.add("OpsAction", f"{action}: who ran it, why, when and what it inserted")
    return plan


# -- redrive ---------------------------------------------------------------------------------------------------
def _redrive(request: OrderRequest, params: Mapping[str, Any]) -> Plan:
    plan = Plan()
    failure = open_failure(request.order_id)
    if failure is None or not failure.dead_lettered:
        plan.why = "nothing is dead-lettered for this order" if failure is None else actions.not_dead_lettered(failure)
        return plan
    parked = failure.parked
    where = f"{parked.pipeline}/{parked.step}"
    pause = actions.pause_holding(parked)
    attempt = last_attempt(parked) + 1
    step = composition().pipeline(parked.pipeline).step(parked.step)
    if pause is not None:
        plan.add("RetryScheduled", f"attempt {attempt} of {where}, sent to no worker")
        plan.add(
            "PausedItem", f"attempt {attempt} held, not run: {where} is paused ({pause.reason}); it runs once resumed"
        )
        return _redrive_run(plan, parked, attempt)
    plan.add(
        "RetryScheduled",
        f"attempt {attempt} of {where}, sent to no worker (one gets it a grace period later only if this run dies "
        "first)",
    )
    plan.add("RetryClaim", f"attempt {attempt}, run at once by this action")
    plan.add(
        " or ".join(m.__name__ for m in step.models),
        f"{parked.pipeline}/{parked.step} re-run from {parked.item_type} {parked.item_id} if it succeeds; "
        "the chain then goes on as usual",
    )
    plan.add("ParkingOutcome", "resolved if it succeeds; a new failure parks it again")
    return _redrive_run(plan, parked, attempt)


def _redrive_run(plan: Plan, parked: ParkedItem, attempt: int) -> Plan:
    def run(actor: str, reason: str) -> tuple[dict[str, Any], uuid.UUID | None]:
        status = actions.redrive(parked, worker=f"ops:{actor}")
        return {"parkedId": str(parked.pk), "attempt": attempt, "status": status}, parked.pk

    plan.run = run
    return plan


# -- assign-courier --------------------------------------------------------------------------------------------
def _assign_courier(request: OrderRequest, params: Mapping[str, Any]) -> Plan:
    courier_id = params.get("courier_id")
    if not isinstance(courier_id, str) or not courier_id.strip():
        raise InvalidArgument("assign-courier needs a courier", [Detail("courierId", "is required")])
    courier_id = courier_id.strip()
    if not Courier.objects.filter(pk=courier_id).exists():
        raise InvalidArgument(f"unknown courier {courier_id}", [Detail("courierId", "unknown courier")])
    plan = Plan()
    order_id = request.order_id
    ready = selectors.fact(OrderReadyForDispatch, order_id)
    plan.why = _why_not_assign(order_id, courier_id)
    if plan.why is not None or ready is None:
        return plan
    failure = open_failure(order_id)
    parked = failure.parked if failure and failure.parked.pipeline == "dispatch" else None
    plan.add("OpsCourierChoice", f"courierId={courier_id}, chosenBy=<actor>")
    pause = actions.pause_holding(parked) if parked is not None else None
    if parked is not None and pause is not None:  # dispatch is paused for it: the choice waits for the resume
        attempt = last_attempt(parked) + 1
        plan.add("RetryScheduled", f"attempt {attempt} of dispatch/delivery_assigned, sent to no worker")
        plan.add(
            "PausedItem",
            f"attempt {attempt} held, not run: dispatch/delivery_assigned is paused ({pause.reason}); the courier is "
            "assigned once it is resumed",
        )
    elif parked is not None:
        plan.add("RetryScheduled", f"attempt {last_attempt(parked) + 1} of dispatch/delivery_assigned, run now")
    if pause is None:
        plan.add("DeliveryAssigned", f"courierId={courier_id}, by dispatch (05), published as usual; the chain goes on")

    def run(actor: str, reason: str) -> tuple[dict[str, Any], uuid.UUID | None]:
        choice = current_engine().run("assign-courier", ready, event={"courierId": courier_id, "by": actor})
        if choice.first.status is StepStatus.LOST:  # a concurrent choice of another courier won
            raise FailedPrecondition(f"ops already chose courier {selectors.ops_courier_choice(order_id)}")
        result = actions.summarize(choice)
        if parked is not None:
            result["redrive"] = {"parkedId": str(parked.pk), "status": actions.redrive(parked, f"ops:{actor}")}
        else:
            result = actions.summarize(choice, current_engine().run("dispatch", ready))
        return result, parked.pk if parked else None

    plan.run = run
    return plan


def _why_not_assign(order_id: uuid.UUID, courier_id: str | None) -> str | None:
    """Why no courier can be assigned now (None: one can); without a courier, whether any could be."""
    chosen = selectors.ops_courier_choice(order_id)
    if selectors.fact(OrderReadyForDispatch, order_id) is None:
        return "the order is not ready for dispatch yet"
    if selectors.delivery(order_id) is not None:
        return "a courier is already assigned"
    if courier_id is not None and chosen is not None and chosen != courier_id:
        return f"ops already chose courier {chosen}"
    return None


# -- ops-cancel ------------------------------------------------------------------------------------------------
def _ops_cancel(request: OrderRequest, params: Mapping[str, Any]) -> Plan:
    plan = Plan()
    order_id = request.order_id
    ticket = selectors.ticket(order_id)
    waiting = ticket if ticket is not None and selectors.acceptance(order_id) is None else None
    if waiting is not None:
        plan.add("AcceptanceDecision", "decidedBy=CANCELLED: the restaurant can no longer accept or time out")
    plan.add("OpsCancellation", "cancelledBy=<actor>, reason=<reason>")
    outcome = selectors.payment_outcome(order_id)
    authorization = selectors.current_authorization(order_id)
    if outcome is not None and outcome.variant == "captured":
        plan.add("RefundIssued", f"paymentId={outcome.payment_id}, amount={outcome.amount}")
    elif authorization is not None and not selectors.is_voided(order_id):
        plan.add("AuthorizationVoided", f"authorizationId={authorization}, reason=OPS_CANCELLED")
    plan.add("OrderCancelled", f"reason={contracts.OPS_CANCELLED}, published as tpfgo.ops.order-cancelled.v1")
    for parked in open_items(order_id):
        held = open_hold(parked)
        plan.add(
            "ParkingOutcome",
            f"cancelled: {parked.pipeline}/{parked.step} stops retrying"
            if held is None
            else f"cancelled: {parked.pipeline}/{parked.step}, held by a paused step ({held.pause.reason}), "
            "is not run when the step is resumed",
        )
    for wait in _moot_waits(order_id, claimed=waiting is not None):
        plan.add("WaitEnded", f"settled: {wait}, the order was cancelled; its deadline runs nothing")

    def run(actor: str, reason: str) -> tuple[dict[str, Any], uuid.UUID | None]:
        # Both on the branch the order's view shows (a forked order's fork), as the consumer's cancellation.
        executions = []
        if waiting is not None:  # claim the ticket's one decision first, as a consumer cancellation does
            decision = {"decidedBy": "CANCELLED", "reason": "ops cancelled"}
            on = services.branch_for(waiting)
            executions.append(
                current_engine().run(
                    "restaurant-acceptance", waiting, step="acceptance_decision", event=decision, branch=on
                )
            )
        event = {"by": actor, "reason": reason}
        executions.append(current_engine().run("ops-cancel", request, event=event, branch=services.branch_for(request)))
        result = actions.summarize(*executions)
        if selectors.has(OrderCancelled, order_id):
            closed = close_open(order_id, "ops-cancel", keep_pipelines=("ops-cancel",))
            result["closedParkedIds"] = [str(p.pk) for p in closed]
            ended = services.end_moot_waits(order_id, contracts.OPS_CANCELLED)
            result["closedWaitIds"] = [str(wait) for wait in ended]
        return result, None

    plan.run = run
    return plan


def _moot_waits(order_id: uuid.UUID, *, claimed: bool) -> list[str]:
    """The open waits ops-cancel ends (``services.end_moot_waits``), as ``pipeline/step``: every one but the
    restaurant's when its ticket's decision is ``claimed`` (the claim resumes the waiting step, which ends it)."""
    rows = OpenWait.objects.filter(trace_id=order_id).order_by("opened_at", "wait_id").values_list("pipeline", "step")
    return [f"{pipeline}/{step}" for pipeline, step in rows if not (claimed and pipeline == "restaurant-acceptance")]


# -- resolve-payment-review ------------------------------------------------------------------------------------
@contextmanager
def one_at_a_time(order_id: uuid.UUID) -> Iterator[None]:
    """One resolution of an order's payment review at a time, across processes and nodes, the later one waiting
    (``actions.in_turn``). The approval's capture is an external effect made before the decision is inserted:
    without this, an approval that loses the race to a decline would already have charged the consumer."""
    with actions.in_turn(order_id):
        yield


def _resolve_review(request: OrderRequest, params: Mapping[str, Any]) -> Plan:
    approved = params.get("approved")
    if not isinstance(approved, bool):
        raise InvalidArgument(
            "resolve-payment-review needs a decision (approve or decline)", [Detail("approved", "is required")]
        )
    plan = Plan()
    outcome = selectors.payment_outcome(request.order_id)
    plan.why = _why_not_resolve(request.order_id, approved)
    if plan.why is not None or outcome is None:
        return plan
    plan.add("PaymentReviewResolved", f"approved={str(approved).lower()}, resolvedBy=<actor>")
    if approved:
        plan.add("TerminalOrderState", f"outcome=COMPLETED (captured {outcome.amount} at the gateway)")
    else:
        plan.add("AuthorizationVoided", f"reason={contracts.PAYMENT_REVIEW_DECLINED}")
        plan.add("TerminalOrderState", "outcome=FAILED_COMPENSATED")

    def run(actor: str, reason: str) -> tuple[dict[str, Any], uuid.UUID | None]:
        event = {"approved": approved, "by": actor}
        with one_at_a_time(request.order_id):  # a racing resolution waits, then finds this one stored
            execution = current_engine().run(
                "resolve-payment-review", outcome, event=event, branch=services.branch_for(outcome)
            )
        if execution.first.status is StepStatus.LOST:  # resolved the other way first
            raise FailedPrecondition("the payment review was already resolved the other way")
        return actions.summarize(execution), None

    plan.run = run
    return plan


def _why_not_resolve(order_id: uuid.UUID, approved: bool | None) -> str | None:
    """Why the payment review cannot be resolved (None: it can); without a decision, whether either could be."""
    outcome = selectors.payment_outcome(order_id)
    if outcome is None or outcome.variant != "requires_review":
        return "the order's payment does not require review"
    resolved = selectors.fact(PaymentReviewResolved, order_id)
    if approved is not None and resolved is not None and resolved.approved != approved:
        return "the payment review was already resolved the other way"
    return None
