"""The canonical chain 01→08, its unhappy-path and remediation pipelines and their publications (docs/chain.md)."""

from __future__ import annotations

from uuid import UUID

from checkout.acceptance_decision import step as acceptance_decision
from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.authorization_voided import step as authorization_voided
from checkout.authorization_voided.models import AuthorizationVoided
from checkout.cancellation_decision import step as cancellation_decision
from checkout.cancellation_decision.models import CancellationAccepted, CancellationRefused
from checkout.cancellation_requested import step as cancellation_requested
from checkout.cancellation_requested.models import CancellationRequested
from checkout.consumer_verified import step as consumer_verified
from checkout.consumer_verified.models import ConsumerRejected, ConsumerVerified
from checkout.courier_reassigned import step as courier_reassigned
from checkout.courier_reassigned.models import CourierReassigned
from checkout.delivery_assigned import step as delivery_assigned
from checkout.delivery_assigned.models import DeliveryAssigned
from checkout.delivery_escalated import step as delivery_escalated
from checkout.delivery_escalated.models import DeliveryEscalated
from checkout.initial_order import step as initial_order
from checkout.initial_order.models import InitialOrder
from checkout.kitchen_commitment import step as kitchen_commitment
from checkout.kitchen_commitment.models import KitchenCommitment
from checkout.kitchen_task import step as kitchen_task
from checkout.kitchen_task.models import KitchenTask
from checkout.models import Courier, Restaurant
from checkout.ops_cancellation import step as ops_cancellation
from checkout.ops_cancellation.models import OpsCancellation
from checkout.ops_courier_choice import step as ops_courier_choice
from checkout.ops_courier_choice.models import OpsCourierChoice
from checkout.order_accepted_by_restaurant import step as order_accepted_by_restaurant
from checkout.order_accepted_by_restaurant.models import AcceptanceTimedOut, OrderAcceptedByRestaurant, TicketRejected
from checkout.order_approved import step as order_approved
from checkout.order_approved.models import OrderApproved
from checkout.order_cancelled import step as order_cancelled
from checkout.order_cancelled.models import OrderCancelled
from checkout.order_delivered import step as order_delivered
from checkout.order_delivered.models import OrderDelivered
from checkout.order_picked_up import step as order_picked_up
from checkout.order_picked_up.models import OrderPickedUp
from checkout.order_ready_for_dispatch import step as order_ready_for_dispatch
from checkout.order_ready_for_dispatch.models import OrderReadyForDispatch
from checkout.order_rejected import step as order_rejected
from checkout.order_rejected.models import OrderRejected
from checkout.order_request import step as order_request
from checkout.order_request.models import OrderRequest
from checkout.payment_authorized import step as payment_authorized
from checkout.payment_authorized.models import PaymentAuthorized, PaymentDeclined
from checkout.payment_outcome import step as payment_outcome
from checkout.payment_outcome.models import PaymentOutcome
from checkout.payment_reauthorized import step as payment_reauthorized
from checkout.payment_reauthorized.models import PaymentReauthorized, ReauthorizationDeclined
from checkout.payment_review_resolved import step as payment_review_resolved
from checkout.payment_review_resolved.models import PaymentReviewResolved
from checkout.ready_order import step as ready_order
from checkout.ready_order.models import ReadyOrder
from checkout.refund_issued import step as refund_issued
from checkout.refund_issued.models import RefundIssued
from checkout.revised_order import step as revised_order
from checkout.revised_order.models import RevisedOrder
from checkout.revised_ticket import step as revised_ticket
from checkout.revised_ticket.models import RevisedTicket
from checkout.revision_decision import step as revision_decision
from checkout.revision_decision.models import RevisionAccepted, RevisionRefused
from checkout.revision_requested import step as revision_requested
from checkout.revision_requested.models import RevisionRequested
from checkout.terminal_order_state import step as terminal_order_state
from checkout.terminal_order_state.models import TerminalOrderState
from checkout.ticket_created import step as ticket_created
from checkout.ticket_created.models import TicketCreated
from checkout.ticket_withdrawn import step as ticket_withdrawn
from checkout.ticket_withdrawn.models import TicketWithdrawn
from pipelines import (
    Composition,
    Deadline,
    Pipeline,
    Publication,
    RetryPolicy,
    Step,
    Subscription,
    outcome,
    primary,
)
from pipelines.models import Checkpoint

# -- publications -----------------------------------------------------------------------------------------
# The chain's business key as its contracts spell it: every publication is keyed by the order (docs/chain.md).
ORDER_KEY = ("orderId",)


def published(name: str, model: type[Checkpoint]) -> Publication:
    """A publication of the chain, keyed by the order."""
    return Publication(name, model, ORDER_KEY)


ORDER_READY = published("tpfgo.checkout.order-ready.v1", ReadyOrder)
ORDER_APPROVED = published("tpfgo.consumer.order-approved.v1", OrderApproved)
CONSUMER_REJECTED = published("tpfgo.consumer.consumer-rejected.v1", ConsumerRejected)
PAYMENT_DECLINED = published("tpfgo.consumer.payment-declined.v1", PaymentDeclined)
ORDER_ACCEPTED = published("tpfgo.restaurant.order-accepted.v1", OrderAcceptedByRestaurant)
TICKET_REJECTED = published("tpfgo.restaurant.ticket-rejected.v1", TicketRejected)
ACCEPTANCE_TIMED_OUT = published("tpfgo.restaurant.acceptance-timed-out.v1", AcceptanceTimedOut)
KITCHEN_READY = published("tpfgo.kitchen.order-ready.v1", OrderReadyForDispatch)
DELIVERY_ASSIGNED = published("tpfgo.dispatch.delivery-assigned.v1", DeliveryAssigned)
ORDER_DELIVERED = published("tpfgo.delivery.order-delivered.v1", OrderDelivered)
CAPTURE_RESULT = published("tpfgo.payment.capture-result.v1", PaymentOutcome)
TERMINAL_STATE = published("tpfgo.order.terminal-state.v1", TerminalOrderState)
ORDER_REJECTED = published("tpfgo.order.rejected.v1", OrderRejected)
RESTAURANT_CANCELLED = published("tpfgo.restaurant.order-cancelled.v1", OrderCancelled)
CANCELLATION_ACCEPTED = published("tpfgo.order.cancellation-accepted.v1", CancellationAccepted)
CANCELLATION_REFUSED = published("tpfgo.order.cancellation-refused.v1", CancellationRefused)
CONSUMER_CANCELLED = published("tpfgo.order.consumer-cancelled.v1", OrderCancelled)
COURIER_CHOSEN = published("tpfgo.ops.courier-chosen.v1", OpsCourierChoice)
OPS_CANCELLED = published("tpfgo.ops.order-cancelled.v1", OrderCancelled)
REVIEW_RESOLVED = published("tpfgo.ops.payment-review-resolved.v1", TerminalOrderState)
REVISION_REFUSED = published("tpfgo.order.revision-refused.v1", RevisionRefused)
ORDER_REVISED = published("tpfgo.order.order-revised.v1", RevisedTicket)
REAUTHORIZATION_DECLINED = published("tpfgo.payment.reauthorization-declined.v1", ReauthorizationDeclined)
REVISION_DECLINED = published("tpfgo.order.revision-declined.v1", RevisionRefused)
COURIER_REASSIGNED = published("tpfgo.delivery.courier-reassigned.v1", CourierReassigned)
DELIVERY_ESCALATED = published("tpfgo.ops.delivery-escalated.v1", DeliveryEscalated)
REVIEW_EXPIRED = published("tpfgo.order.review-expired.v1", TerminalOrderState)


# -- what the sweeper must not resume: a step that waits for an external event for this input ------------
def manual_acceptance(ticket: TicketCreated | CancellationRequested | RevisionRequested) -> bool:
    """The restaurant accepts by hand (its step's input in restaurant-acceptance is the ticket)."""
    return isinstance(ticket, TicketCreated) and ticket.acceptance_mode != "auto"


def manual_courier(delivery: DeliveryAssigned | OrderPickedUp) -> bool:
    courier = Courier.objects.filter(pk=delivery.courier_id).first()
    return courier is None or courier.completion_mode == Courier.MANUAL


def review_pending(source: AuthorizationVoided | PaymentOutcome | PaymentReviewResolved) -> bool:
    outcome = PaymentOutcome.objects.filter(order_id=source.order_id).first()
    return outcome is not None and outcome.variant == PaymentOutcome.REQUIRES_REVIEW


# -- deadlines: how long each wait may last, and the pipelines that run when it passes (docs/checkout.md) ---
ACCEPTANCE_DEADLINE = Deadline(
    "TPFGO_ACCEPTANCE_DEADLINE_MINUTES",
    label="restaurant acceptance",
    pipelines=("restaurant-acceptance",),  # the waiting step itself, resumed with TIMED_OUT
    step="acceptance_decision",
    event={"decidedBy": "TIMED_OUT"},
    settled_by=("OrderAcceptedByRestaurant", "TicketRejected", "AcceptanceTimedOut", "OrderCancelled"),
)
PICKUP_DEADLINE = Deadline(
    "TPFGO_PICKUP_DEADLINE_MINUTES",
    label="courier pickup",
    pipelines=("courier-reassignment", "delivery-escalation"),
    settled_by=("OrderPickedUp", "OrderCancelled"),
)
DROPOFF_DEADLINE = Deadline(
    "TPFGO_DROPOFF_DEADLINE_MINUTES",
    label="courier dropoff",
    pipelines=("delivery-escalation",),
    settled_by=("OrderDelivered", "OrderCancelled"),
)
REVIEW_DEADLINE = Deadline(
    "TPFGO_REVIEW_DEADLINE_MINUTES",
    label="payment review",
    pipelines=("payment-review-expiry",),
    event={"approved": False, "by": "deadline"},
    settled_by=("TerminalOrderState", "OrderCancelled"),
)  # its rounds run in the order's turn, as ops' own resolutions (pipelines/recovery/deadlines.py, ``fire``)

# No courier is a wait, not a fault: retry for about an hour (10 s doubling, capped at 10 min) before ops.
DISPATCH_RETRY = RetryPolicy(max_attempts=12, base_delay=10.0, multiplier=2.0, cap=600.0, jitter=0.1)

# -- the canonical chain ----------------------------------------------------------------------------------
# Branch policy (docs/architecture.md, "The branch policy"): a decision step declares its primary and each outcome
# (aux, required, handed off through its publication); the kitchen split declares its tasks as its primary. A step
# with one output keeps the default policy (its model is its primary). The chain has no aux branch written beside a
# primary and registers no mid-step tap (a tap writes nothing, so it is not a branch).
CHECKOUT = Pipeline(
    name="checkout",
    inputs=(),
    source_namespace="order",
    steps=(
        Step("order_request", order_request.process, OrderRequest),
        Step("initial_order", initial_order.process, InitialOrder),
        Step("ready_order", ready_order.process, ReadyOrder),
    ),
    output=ORDER_READY,
)
CONSUMER_VALIDATION = Pipeline(
    name="consumer-validation",
    inputs=(ReadyOrder,),
    steps=(
        Step(
            "consumer_verified",
            consumer_verified.process,
            ConsumerVerified,
            branches=(
                primary("verified", ConsumerVerified),
                outcome("rejected", ConsumerRejected, CONSUMER_REJECTED),
            ),
        ),
        Step(
            "payment_authorized",
            payment_authorized.process,
            PaymentAuthorized,
            external_effect=True,
            branches=(
                primary("authorized", PaymentAuthorized),
                outcome("declined", PaymentDeclined, PAYMENT_DECLINED),
            ),
        ),
        Step("order_approved", order_approved.process, OrderApproved),
    ),
    output=ORDER_APPROVED,
)
RESTAURANT_ACCEPTANCE = Pipeline(
    name="restaurant-acceptance",
    inputs=(OrderApproved,),
    steps=(
        Step("ticket_created", ticket_created.process, TicketCreated),
        Step(
            "acceptance_decision",
            acceptance_decision.process,
            AcceptanceDecision,
            awaits=manual_acceptance,
            deadline=ACCEPTANCE_DEADLINE,
            skips=(),  # a ticket is decided or waits: only a cancellation's or a revision's claim is skipped
        ),
        Step(
            "order_accepted_by_restaurant",
            order_accepted_by_restaurant.process,
            OrderAcceptedByRestaurant,
            branches=(
                primary("accepted", OrderAcceptedByRestaurant),
                outcome("rejected", TicketRejected, TICKET_REJECTED),
                outcome("timed-out", AcceptanceTimedOut, ACCEPTANCE_TIMED_OUT),
            ),
        ),
    ),
    output=ORDER_ACCEPTED,
)
KITCHEN_PREPARATION = Pipeline(
    name="kitchen-preparation",
    inputs=(OrderAcceptedByRestaurant,),
    steps=(
        # An accepted order is always claimed for the kitchen: only a cancellation's claim may be skipped.
        Step("kitchen_commitment", kitchen_commitment.process, KitchenCommitment, skips=()),
        # The kitchen split: one task per station is the primary (the merge receives them all); no aux branch.
        Step(
            "kitchen_task", kitchen_task.process, KitchenTask, shape="split", branches=(primary("tasks", KitchenTask),)
        ),
        Step(
            "order_ready_for_dispatch",
            order_ready_for_dispatch.process,
            OrderReadyForDispatch,
            shape="merge",
            branches=(primary("ready", OrderReadyForDispatch),),
        ),
    ),
    output=KITCHEN_READY,
)
DISPATCH = Pipeline(
    name="dispatch",
    inputs=(OrderReadyForDispatch,),
    steps=(Step("delivery_assigned", delivery_assigned.process, DeliveryAssigned, retry=DISPATCH_RETRY),),
    output=DELIVERY_ASSIGNED,
)
DELIVERY_EXECUTION = Pipeline(
    name="delivery-execution",
    inputs=(DeliveryAssigned,),
    steps=(
        Step(
            "order_picked_up",
            order_picked_up.process,
            OrderPickedUp,
            awaits=manual_courier,
            deadline=PICKUP_DEADLINE,
        ),
        Step(
            "order_delivered",
            order_delivered.process,
            OrderDelivered,
            awaits=manual_courier,
            deadline=DROPOFF_DEADLINE,
        ),
    ),
    output=ORDER_DELIVERED,
)
PAYMENT_CAPTURE = Pipeline(
    name="payment-capture",
    inputs=(OrderDelivered,),
    steps=(Step("payment_outcome", payment_outcome.process, PaymentOutcome, external_effect=True),),
    output=CAPTURE_RESULT,
)
ORDER_FINALIZATION = Pipeline(
    name="order-finalization",
    inputs=(PaymentOutcome,),
    steps=(
        Step("authorization_voided", authorization_voided.process, AuthorizationVoided, external_effect=True),
        Step(
            "terminal_order_state",
            terminal_order_state.process,
            TerminalOrderState,
            awaits=review_pending,
            deadline=REVIEW_DEADLINE,
        ),
    ),
    output=TERMINAL_STATE,
)

# -- business unhappy paths -------------------------------------------------------------------------------
ORDER_REJECTION = Pipeline(
    name="order-rejection",
    inputs=(ConsumerRejected, PaymentDeclined),
    steps=(Step("order_rejected", order_rejected.process, OrderRejected),),
    output=ORDER_REJECTED,
    kind="unhappy",
)
RESTAURANT_DECLINED = Pipeline(
    name="restaurant-declined",
    inputs=(TicketRejected, AcceptanceTimedOut),
    steps=(
        Step("authorization_voided", authorization_voided.process, AuthorizationVoided, external_effect=True),
        Step("order_cancelled", order_cancelled.process, OrderCancelled),
    ),
    output=RESTAURANT_CANCELLED,
    kind="unhappy",
)
CANCELLATION_REQUEST = Pipeline(
    name="cancellation-request",
    inputs=(OrderRequest,),
    steps=(
        Step("cancellation_requested", cancellation_requested.process, CancellationRequested),
        # Claims: a claim that lost to another path hands its input on; the decision reads who won.
        Step("acceptance_decision", acceptance_decision.process, AcceptanceDecision, on_lost="continue"),
        Step("kitchen_commitment", kitchen_commitment.process, KitchenCommitment, on_lost="continue"),
        Step(
            "cancellation_decision",
            cancellation_decision.process,
            CancellationAccepted,
            branches=(
                primary("accepted", CancellationAccepted),
                outcome("refused", CancellationRefused, CANCELLATION_REFUSED),
            ),
        ),
    ),
    output=CANCELLATION_ACCEPTED,
    kind="unhappy",
)
ORDER_CANCELLATION = Pipeline(
    name="order-cancellation",
    inputs=(CancellationAccepted,),
    steps=(
        Step("ticket_withdrawn", ticket_withdrawn.process, TicketWithdrawn),
        Step("authorization_voided", authorization_voided.process, AuthorizationVoided, external_effect=True),
        Step("order_cancelled", order_cancelled.process, OrderCancelled),
    ),
    output=CONSUMER_CANCELLED,
    kind="unhappy",
)

# A revision: its own source (the root is the revision id, the trace is the order's), started by the service.
ORDER_REVISION = Pipeline(
    name="order-revision",
    inputs=(),
    source_namespace="revision",
    steps=(
        Step("revision_requested", revision_requested.process, RevisionRequested),
        # The claim of the ticket's decision slot for this round; a skipped or lost claim hands the request on.
        Step("acceptance_decision", acceptance_decision.process, AcceptanceDecision, on_lost="continue"),
        Step(
            "payment_reauthorized",
            payment_reauthorized.process,
            PaymentReauthorized,
            external_effect=True,
            skips=(RevisionRequested,),  # a skipped or lost claim: nothing to authorize, the request goes on
            branches=(
                primary("reauthorized", PaymentReauthorized),
                outcome("declined", ReauthorizationDeclined, REAUTHORIZATION_DECLINED),
            ),
        ),
        Step(
            "revision_decision",
            revision_decision.process,
            RevisionAccepted,
            branches=(
                primary("accepted", RevisionAccepted),
                outcome("refused", RevisionRefused, REVISION_REFUSED),
            ),
        ),
        Step("revised_order", revised_order.process, RevisedOrder),
        Step("revised_ticket", revised_ticket.process, RevisedTicket),
    ),
    output=ORDER_REVISED,
    kind="unhappy",
)
REVISION_DECLINE = Pipeline(
    name="revision-decline",
    inputs=(ReauthorizationDeclined,),
    steps=(Step("revision_decision", revision_decision.process, RevisionRefused),),
    output=REVISION_DECLINED,
    kind="unhappy",
)

# -- what runs when a wait passes its deadline (pipelines.recovery.deadlines) --------------------------------
COURIER_REASSIGNMENT = Pipeline(
    name="courier-reassignment",
    inputs=(DeliveryAssigned,),
    steps=(Step("courier_reassigned", courier_reassigned.process, CourierReassigned),),
    output=COURIER_REASSIGNED,
    kind="unhappy",
)
DELIVERY_ESCALATION = Pipeline(
    name="delivery-escalation",
    inputs=(DeliveryAssigned, OrderPickedUp),
    steps=(Step("delivery_escalated", delivery_escalated.process, DeliveryEscalated),),
    output=DELIVERY_ESCALATED,
    kind="unhappy",
)
# The same steps as ops' resolve-payment-review, so both meet on the same rows: one decision per order.
PAYMENT_REVIEW_EXPIRY = Pipeline(
    name="payment-review-expiry",
    inputs=(PaymentOutcome,),
    steps=(
        Step("payment_review_resolved", payment_review_resolved.process, PaymentReviewResolved, external_effect=True),
        Step("authorization_voided", authorization_voided.process, AuthorizationVoided, external_effect=True),
        Step("terminal_order_state", terminal_order_state.process, TerminalOrderState),
    ),
    output=REVIEW_EXPIRED,
    kind="unhappy",
)


# -- remediation (triggered by ops through checkout.ops_actions; redrive needs no pipeline of its own) -----
ASSIGN_COURIER = Pipeline(
    name="assign-courier",
    inputs=(OrderReadyForDispatch,),
    steps=(Step("ops_courier_choice", ops_courier_choice.process, OpsCourierChoice),),
    output=COURIER_CHOSEN,
    kind="remediation",
)
OPS_CANCEL = Pipeline(
    name="ops-cancel",
    inputs=(OrderRequest,),
    steps=(
        Step("ops_cancellation", ops_cancellation.process, OpsCancellation),
        Step("authorization_voided", authorization_voided.process, AuthorizationVoided, external_effect=True),
        Step("refund_issued", refund_issued.process, RefundIssued, external_effect=True),
        Step("order_cancelled", order_cancelled.process, OrderCancelled),
    ),
    output=OPS_CANCELLED,
    kind="remediation",
)
RESOLVE_PAYMENT_REVIEW = Pipeline(
    name="resolve-payment-review",
    inputs=(PaymentOutcome,),
    steps=(
        Step("payment_review_resolved", payment_review_resolved.process, PaymentReviewResolved, external_effect=True),
        Step("authorization_voided", authorization_voided.process, AuthorizationVoided, external_effect=True),
        Step("terminal_order_state", terminal_order_state.process, TerminalOrderState),
    ),
    output=REVIEW_RESOLVED,
    kind="remediation",
)


def cancelled(pipeline: str, trace_id: UUID) -> str | None:
    """A parked retry of any step first checks that the order was not cancelled meanwhile (by its consumer or ops)."""
    if pipeline in ("cancellation-request", "order-cancellation", "ops-cancel"):
        return None
    if CancellationAccepted.objects.filter(order_id=trace_id).exists():
        return "order cancelled"
    if OpsCancellation.objects.filter(order_id=trace_id).exists():
        return "order cancelled by ops"
    return None


def _order_of(value: object) -> UUID | None:
    first = value[0] if isinstance(value, list) else value
    order_id = getattr(first, "order_id", None)
    return order_id if isinstance(order_id, UUID) else None


def order_key(value: object) -> str | None:
    """A pause for one order: every checkout fact carries its order id."""
    order_id = _order_of(value)
    return str(order_id) if order_id is not None else None


def restaurant_key(value: object) -> str | None:
    """A pause for one restaurant: the order's restaurant, from its stored request (facts after 03 do not carry it)."""
    restaurant = getattr(value[0] if isinstance(value, list) else value, "restaurant_id", None)
    if restaurant:
        return str(restaurant)
    order_id = _order_of(value)
    request = OrderRequest.objects.filter(order_id=order_id).only("restaurant_id").first() if order_id else None
    return request.restaurant_id if request is not None else None


def order_value(given: str) -> str:
    """An order id in the form ``order_key`` answers (``str(UUID)``): braces, capitals or no hyphens are the same id."""
    try:
        return str(UUID(given))
    except ValueError:
        raise ValueError("an order id is a UUID") from None


def restaurant_value(given: str) -> str:
    """A restaurant's id as stored: an order can only name a restaurant that exists."""
    if not Restaurant.objects.filter(pk=given).exists():
        raise ValueError(f"no restaurant {given!r}")
    return given


CHAIN = (
    CHECKOUT,
    CONSUMER_VALIDATION,
    RESTAURANT_ACCEPTANCE,
    KITCHEN_PREPARATION,
    DISPATCH,
    DELIVERY_EXECUTION,
    PAYMENT_CAPTURE,
    ORDER_FINALIZATION,
)
UNHAPPY = (
    ORDER_REJECTION,
    RESTAURANT_DECLINED,
    CANCELLATION_REQUEST,
    ORDER_CANCELLATION,
    ORDER_REVISION,
    REVISION_DECLINE,
    COURIER_REASSIGNMENT,
    DELIVERY_ESCALATION,
    PAYMENT_REVIEW_EXPIRY,
)
REMEDIATION = (ASSIGN_COURIER, OPS_CANCEL, RESOLVE_PAYMENT_REVIEW)

COMPOSITION = Composition(
    pipelines=CHAIN + UNHAPPY + REMEDIATION,
    subscriptions=(
        Subscription(ORDER_READY.name, "consumer-validation"),
        Subscription(ORDER_APPROVED.name, "restaurant-acceptance"),
        Subscription(ORDER_ACCEPTED.name, "kitchen-preparation"),
        Subscription(KITCHEN_READY.name, "dispatch"),
        Subscription(DELIVERY_ASSIGNED.name, "delivery-execution"),
        Subscription(ORDER_DELIVERED.name, "payment-capture"),
        Subscription(CAPTURE_RESULT.name, "order-finalization"),
        Subscription(CONSUMER_REJECTED.name, "order-rejection"),
        Subscription(PAYMENT_DECLINED.name, "order-rejection"),
        Subscription(TICKET_REJECTED.name, "restaurant-declined"),
        Subscription(ACCEPTANCE_TIMED_OUT.name, "restaurant-declined"),
        Subscription(CANCELLATION_ACCEPTED.name, "order-cancellation"),
        Subscription(REAUTHORIZATION_DECLINED.name, "revision-decline"),
    ),
    terminal=frozenset(
        {
            TERMINAL_STATE.name,
            ORDER_REJECTED.name,
            RESTAURANT_CANCELLED.name,
            CONSUMER_CANCELLED.name,
            CANCELLATION_REFUSED.name,
            COURIER_CHOSEN.name,
            OPS_CANCELLED.name,
            REVIEW_RESOLVED.name,
            REVISION_REFUSED.name,
            ORDER_REVISED.name,
            REVISION_DECLINED.name,
            COURIER_REASSIGNED.name,
            DELIVERY_ESCALATED.name,
            REVIEW_EXPIRED.name,
        }
    ),
    retry_guard=cancelled,
    pause_keys={"order": order_key, "restaurant": restaurant_key},
    pause_values={"order": order_value, "restaurant": restaurant_value},
)
