"""The contracts of the canonical chain: what each checkpoint hands off, field by numbered field.

Step apps share these and never import each other. Names are docs/chain.md's; numbers are stable forever
(a removed field's number is never reused).
"""

from __future__ import annotations

from pipelines import contract

ORDER_REQUEST = contract(
    "OrderRequest",
    1,
    (1, "orderId", "uuid"),
    (2, "requestId", "string"),
    (3, "consumerId", "string"),
    (4, "restaurantId", "string"),
    (5, "deliveryAddress", "json"),
    (6, "deliveryTime", "datetime", False),
    (7, "paymentToken", "string", False),
    (8, "commandHash", "string"),
)
INITIAL_ORDER = contract(
    "InitialOrder",
    1,
    (1, "orderId", "uuid"),
    (2, "consumerId", "string"),
    (3, "restaurantId", "string"),
    (4, "currency", "string"),
    (5, "orderTotal", "decimal"),
    (6, "lines", "json"),
    (7, "paymentToken", "string"),
)
READY_ORDER = contract(
    "ReadyOrder",
    1,
    (1, "orderId", "uuid"),
    (2, "requestId", "string"),
    (3, "consumerId", "string"),
    (4, "restaurantId", "string"),
    (5, "orderTotal", "decimal"),
    (6, "currency", "string"),
    (7, "createdAt", "datetime"),
)
CONSUMER_VERIFIED = contract(
    "ConsumerVerified",
    1,
    (1, "orderId", "uuid"),
    (2, "consumerId", "string"),
    (3, "orderTotal", "decimal"),
)
CONSUMER_REJECTED = contract(
    "ConsumerRejected",
    1,
    (1, "orderId", "uuid"),
    (2, "reason", "string"),
    (3, "detail", "string"),
)
PAYMENT_AUTHORIZED = contract(
    "PaymentAuthorized",
    1,
    (1, "orderId", "uuid"),
    (2, "authorizationId", "string"),
    (3, "amount", "decimal"),
)
PAYMENT_DECLINED = contract("PaymentDeclined", 1, (1, "orderId", "uuid"), (2, "declineCode", "string"))
ORDER_APPROVED = contract(
    "OrderApproved",
    1,
    (1, "orderId", "uuid"),
    (2, "requestId", "string"),
    (3, "consumerId", "string"),
    (4, "restaurantId", "string"),
    (5, "orderTotal", "decimal"),
    (6, "currency", "string"),
    (7, "approvedAt", "datetime"),
    (8, "riskBand", "string"),
    (9, "authorizationId", "string"),
)
TICKET_CREATED = contract(
    "TicketCreated",
    1,
    (1, "orderId", "uuid"),
    (2, "kitchenTicketId", "uuid"),
    (3, "restaurantId", "string"),
    (4, "lines", "json"),
    (5, "acceptanceMode", "string"),
    (6, "acceptBy", "datetime"),
)
ACCEPTANCE_DECISION = contract(
    "AcceptanceDecision",
    1,
    (1, "orderId", "uuid"),
    (2, "decidedBy", "string"),
    (3, "readyBy", "datetime", False),
    (4, "reason", "string", False),
    (5, "round", "int"),
    (6, "revisionId", "uuid", False),
)
ORDER_ACCEPTED = contract(
    "OrderAcceptedByRestaurant",
    1,
    (1, "orderId", "uuid"),
    (2, "kitchenTicketId", "uuid"),
    (3, "acceptedAt", "datetime"),
    (4, "readyBy", "datetime"),
)
TICKET_REJECTED = contract(
    "TicketRejected",
    1,
    (1, "orderId", "uuid"),
    (2, "kitchenTicketId", "uuid"),
    (3, "reason", "string"),
)
ACCEPTANCE_TIMED_OUT = contract(
    "AcceptanceTimedOut",
    1,
    (1, "orderId", "uuid"),
    (2, "kitchenTicketId", "uuid"),
    (3, "deadline", "datetime"),
)
KITCHEN_COMMITMENT = contract("KitchenCommitment", 1, (1, "orderId", "uuid"), (2, "claimedBy", "string"))
KITCHEN_TASK = contract(
    "KitchenTask",
    1,
    (1, "orderId", "uuid"),
    (2, "taskName", "string"),
    (3, "menuItemId", "string", False),
    (4, "quantity", "int"),
)
ORDER_READY_FOR_DISPATCH = contract(
    "OrderReadyForDispatch",
    1,
    (1, "orderId", "uuid"),
    (2, "readyAt", "datetime"),
    (3, "lineageDigest", "string"),
    (4, "taskCount", "int"),
)
DELIVERY_ASSIGNED = contract(
    "DeliveryAssigned",
    1,
    (1, "orderId", "uuid"),
    (2, "dispatchId", "uuid"),
    (3, "courierId", "string"),
    (4, "etaMinutes", "int"),
    (5, "assignedAt", "datetime"),
    (6, "lineageDigest", "string"),
)
ORDER_PICKED_UP = contract(
    "OrderPickedUp",
    1,
    (1, "orderId", "uuid"),
    (2, "dispatchId", "uuid"),
    (3, "courierId", "string"),
    (4, "pickedUpAt", "datetime"),
)
ORDER_DELIVERED = contract(
    "OrderDelivered",
    1,
    (1, "orderId", "uuid"),
    (2, "dispatchId", "uuid"),
    (3, "deliveredAt", "datetime"),
    (4, "amount", "decimal"),
    (5, "lineageDigest", "string"),
)
PAYMENT_OUTCOME = contract(
    "PaymentOutcome",
    1,
    (1, "orderId", "uuid"),
    (2, "variant", "string"),
    (3, "paymentId", "string", False),
    (4, "amount", "decimal"),
    (5, "failureCode", "string", False),
    (6, "failureReason", "string", False),
    (7, "reviewReason", "string", False),
)
TERMINAL_ORDER_STATE = contract(
    "TerminalOrderState",
    1,
    (1, "orderId", "uuid"),
    (2, "outcome", "string"),
    (3, "resolutionAction", "string"),
    (4, "paymentOutcome", "string"),
    (5, "paymentId", "string", False),
    (6, "failureCode", "string", False),
    (7, "resolvedAt", "datetime"),
)
ORDER_REJECTED = contract("OrderRejected", 1, (1, "orderId", "uuid"), (2, "reason", "string"), (3, "detail", "string"))
AUTHORIZATION_VOIDED = contract(
    "AuthorizationVoided",
    1,
    (1, "orderId", "uuid"),
    (2, "authorizationId", "string"),
    (3, "reason", "string"),
    (4, "voidedAt", "datetime"),
)
ORDER_CANCELLED = contract(
    "OrderCancelled",
    1,
    (1, "orderId", "uuid"),
    (2, "reason", "string"),
    (3, "cancelledAt", "datetime"),
)
CANCELLATION_REQUESTED = contract("CancellationRequested", 1, (1, "orderId", "uuid"), (2, "note", "string", False))
CANCELLATION_ACCEPTED = contract("CancellationAccepted", 1, (1, "orderId", "uuid"), (2, "acceptedAt", "datetime"))
CANCELLATION_REFUSED = contract("CancellationRefused", 1, (1, "orderId", "uuid"), (2, "reason", "string"))
TICKET_WITHDRAWN = contract("TicketWithdrawn", 1, (1, "orderId", "uuid"), (2, "kitchenTicketId", "uuid"))

# Codes shared by several steps and the derived state.
RESTAURANT_DECLINED = "RESTAURANT_DECLINED"
ACCEPTANCE_TIMED_OUT_REASON = "ACCEPTANCE_TIMED_OUT"
CONSUMER_CANCELLED = "CONSUMER_CANCELLED"
OPS_CANCELLED = "OPS_CANCELLED"
PAYMENT_REJECTED = "PAYMENT_REJECTED"
PAYMENT_REVIEW_DECLINED = "PAYMENT_REVIEW_DECLINED"

# Remediation.
OPS_COURIER_CHOICE = contract(
    "OpsCourierChoice",
    1,
    (1, "orderId", "uuid"),
    (2, "courierId", "string"),
    (3, "chosenBy", "string"),
)
OPS_CANCELLATION = contract(
    "OpsCancellation",
    1,
    (1, "orderId", "uuid"),
    (2, "cancelledBy", "string"),
    (3, "reason", "string"),
)
REFUND_ISSUED = contract(
    "RefundIssued",
    1,
    (1, "orderId", "uuid"),
    (2, "paymentId", "string"),
    (3, "refundId", "string"),
    (4, "amount", "decimal"),
)
PAYMENT_REVIEW_RESOLVED = contract(
    "PaymentReviewResolved",
    1,
    (1, "orderId", "uuid"),
    (2, "approved", "bool"),
    (3, "resolvedBy", "string"),
    (4, "paymentId", "string", False),
)

# Order revision (the order-revision pipeline).
REVISION_REQUESTED = contract(
    "RevisionRequested",
    1,
    (1, "revisionId", "uuid"),
    (2, "orderId", "uuid"),
    (3, "requestId", "string"),
    (4, "lines", "json"),
    (5, "orderTotal", "decimal"),
    (6, "currency", "string"),
    (7, "commandHash", "string"),
)
PAYMENT_REAUTHORIZED = contract(
    "PaymentReauthorized",
    1,
    (1, "revisionId", "uuid"),
    (2, "orderId", "uuid"),
    (3, "authorizationId", "string"),
    (4, "amount", "decimal"),
)
REAUTHORIZATION_DECLINED = contract(
    "ReauthorizationDeclined", 1, (1, "revisionId", "uuid"), (2, "orderId", "uuid"), (3, "declineCode", "string")
)
REVISION_ACCEPTED = contract(
    "RevisionAccepted", 1, (1, "revisionId", "uuid"), (2, "orderId", "uuid"), (3, "acceptedAt", "datetime")
)
REVISION_REFUSED = contract(
    "RevisionRefused", 1, (1, "revisionId", "uuid"), (2, "orderId", "uuid"), (3, "reason", "string")
)
REVISED_ORDER = contract(
    "RevisedOrder",
    1,
    (1, "revisionId", "uuid"),
    (2, "orderId", "uuid"),
    (3, "lines", "json"),
    (4, "orderTotal", "decimal"),
    (5, "currency", "string"),
)
REVISED_TICKET = contract(
    "RevisedTicket",
    1,
    (1, "revisionId", "uuid"),
    (2, "orderId", "uuid"),
    (3, "kitchenTicketId", "uuid"),
    (4, "lines", "json"),
)

# Deadlines (docs/checkout.md, "Deadlines"): what an overdue delivery wait leaves behind.
COURIER_REASSIGNED = contract(
    "CourierReassigned",
    1,
    (1, "orderId", "uuid"),
    (2, "dispatchId", "uuid"),
    (3, "fromCourierId", "string"),
    (4, "courierId", "string"),
    (5, "reassignedAt", "datetime"),
)
DELIVERY_ESCALATED = contract(
    "DeliveryEscalated",
    1,
    (1, "orderId", "uuid"),
    (2, "stage", "string"),
    (3, "dispatchId", "uuid"),
    (4, "courierId", "string"),
    (5, "escalatedAt", "datetime"),
)
