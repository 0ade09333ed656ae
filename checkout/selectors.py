"""Read-side queries over the checkpoint tables, shared by steps, the derived state and every interface."""

from __future__ import annotations

import uuid
from typing import TypeVar

from django.db.models import Count

from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.authorization_voided.models import AuthorizationVoided
from checkout.delivery_assigned.models import DeliveryAssigned
from checkout.initial_order.models import InitialOrder
from checkout.ops_cancellation.models import OpsCancellation
from checkout.ops_courier_choice.models import OpsCourierChoice
from checkout.kitchen_commitment.models import KitchenCommitment
from checkout.order_cancelled.models import OrderCancelled
from checkout.order_delivered.models import OrderDelivered
from checkout.order_rejected.models import OrderRejected
from checkout.order_request.models import OrderRequest
from checkout.payment_authorized.models import PaymentAuthorized
from checkout.payment_outcome.models import PaymentOutcome
from checkout.payment_review_resolved.models import PaymentReviewResolved
from checkout.ready_order.models import ReadyOrder
from checkout.terminal_order_state.models import TerminalOrderState
from checkout.ticket_created.models import TicketCreated
from pipelines.models import Checkpoint

T = TypeVar("T", bound=Checkpoint)


def fact(model: type[T], order_id: uuid.UUID) -> T | None:
    """The order's one fact of this kind, or None (every checkout checkpoint is unique per order)."""
    return model.objects.filter(order_id=order_id).first()


def has(model: type[Checkpoint], order_id: uuid.UUID) -> bool:
    return model.objects.filter(order_id=order_id).exists()


def order_request(order_id: uuid.UUID) -> OrderRequest | None:
    return fact(OrderRequest, order_id)


def initial_order(order_id: uuid.UUID) -> InitialOrder | None:
    return fact(InitialOrder, order_id)


def ready_order(order_id: uuid.UUID) -> ReadyOrder | None:
    return fact(ReadyOrder, order_id)


def authorization(order_id: uuid.UUID) -> PaymentAuthorized | None:
    return fact(PaymentAuthorized, order_id)


def ticket(order_id: uuid.UUID) -> TicketCreated | None:
    return fact(TicketCreated, order_id)


def acceptance(order_id: uuid.UUID) -> AcceptanceDecision | None:
    return fact(AcceptanceDecision, order_id)


def payment_outcome(order_id: uuid.UUID) -> PaymentOutcome | None:
    return fact(PaymentOutcome, order_id)


def delivery(order_id: uuid.UUID) -> DeliveryAssigned | None:
    return fact(DeliveryAssigned, order_id)


def ops_courier_choice(order_id: uuid.UUID) -> str | None:
    choice = fact(OpsCourierChoice, order_id)
    return choice.courier_id if choice else None


def payment_review(order_id: uuid.UUID) -> PaymentReviewResolved | None:
    return fact(PaymentReviewResolved, order_id)


def ops_cancellation(order_id: uuid.UUID) -> OpsCancellation | None:
    return fact(OpsCancellation, order_id)


def is_captured(order_id: uuid.UUID) -> bool:
    return PaymentOutcome.objects.filter(order_id=order_id, variant=PaymentOutcome.CAPTURED).exists()


def is_terminal(order_id: uuid.UUID) -> bool:
    """Cancelled, rejected or finalized: nothing more can happen to the order."""
    return any(has(model, order_id) for model in (OrderCancelled, OrderRejected, TerminalOrderState))


def claimed_by_kitchen(order_id: uuid.UUID) -> bool:
    return KitchenCommitment.objects.filter(order_id=order_id, claimed_by=KitchenCommitment.KITCHEN).exists()


def is_voided(order_id: uuid.UUID) -> bool:
    return has(AuthorizationVoided, order_id)


def active_deliveries(courier_ids: list[str]) -> dict[str, int]:
    """Deliveries assigned to each courier and not delivered yet."""
    delivered = OrderDelivered.objects.filter(courier_id__in=courier_ids).values("courier_id").annotate(n=Count("id"))
    assigned = DeliveryAssigned.objects.filter(courier_id__in=courier_ids).values("courier_id").annotate(n=Count("id"))
    done = {row["courier_id"]: row["n"] for row in delivered}
    return {cid: 0 for cid in courier_ids} | {
        row["courier_id"]: row["n"] - done.get(row["courier_id"], 0) for row in assigned
    }


