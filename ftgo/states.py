"""FTGO's order states, derived from TPFGo's order view (``checkout.state``), never stored.

FTGO's order service knows six states. Its order is ``APPROVED`` once the create-order saga authorized the
payment, and stays ``APPROVED`` while the kitchen accepts, prepares and the courier delivers (the ticket and the
delivery have states of their own). So every TPFGo state of an approved order that is still going, or delivered,
is ``APPROVED``; docs/ftgo.md holds the same table with the reasons. An approved order with a revision still
being decided is FTGO's ``REVISION_PENDING``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

APPROVAL_PENDING, APPROVED, REJECTED = "APPROVAL_PENDING", "APPROVED", "REJECTED"
CANCEL_PENDING, CANCELLED, REVISION_PENDING = "CANCEL_PENDING", "CANCELLED", "REVISION_PENDING"
FTGO_STATES = (APPROVAL_PENDING, APPROVED, REJECTED, CANCEL_PENDING, CANCELLED, REVISION_PENDING)

# TPFGo label → FTGO state; every label checkout.state can derive is here (a test reads them from its source).
BY_LABEL: dict[str, str] = {
    "PENDING": APPROVAL_PENDING,  # the request is stored, the chain has not priced it yet
    "APPROVAL_PENDING": APPROVAL_PENDING,  # priced; consumer and payment not yet checked
    "APPROVED": APPROVED,
    "AWAITING_ACCEPTANCE": APPROVED,  # FTGO approves before the restaurant accepts the ticket
    "ACCEPTED": APPROVED,
    "PREPARING": APPROVED,
    "READY_FOR_DISPATCH": APPROVED,
    "DISPATCHED": APPROVED,
    "PICKED_UP": APPROVED,
    "DELIVERED": APPROVED,
    "REVIEW_REQUIRED": APPROVED,  # delivered; the capture waits for ops' review
    "COMPLETED": APPROVED,  # delivered and paid: FTGO's order has no later state
    "PAYMENT_FAILED": REJECTED,  # delivered but the capture failed: FTGO's only failed ending
    "REJECTED": REJECTED,
    "CANCEL_PENDING": CANCEL_PENDING,
    "CANCELLED": CANCELLED,
}


def ftgo_state(label: str) -> str:
    """The FTGO state of a TPFGo label; a label missing from the table is a programming error (KeyError)."""
    return BY_LABEL[label]


def order_state(view: Mapping[str, Any]) -> str:
    """The FTGO state of an order view: its label's, or ``REVISION_PENDING`` while a revision of an approved order
    is undecided (its request is stored; the decision is not, e.g. the re-authorization is being retried)."""
    state = ftgo_state(view["state"])
    if state == APPROVED and any(r["outcome"] == "PENDING" for r in view.get("revisions", ())):
        return REVISION_PENDING
    return state
