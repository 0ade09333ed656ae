"""Derived order state, the order view and the lineage tree: computed from the tables, never stored."""

from __future__ import annotations

import uuid
from typing import Any

from checkout import selectors
from checkout.delivery_assigned.models import DeliveryAssigned
from checkout.initial_order.models import InitialOrder
from checkout.order_cancelled.models import OrderCancelled
from checkout.order_rejected.models import OrderRejected
from checkout.order_request.models import OrderRequest
from checkout.order_view import CheckpointRef, OrderLine, OrderView, RevisionEntry, Stalled
from checkout.payment_outcome.models import PaymentOutcome
from checkout.revision_decision.models import RevisionAccepted, RevisionRefused
from checkout.terminal_order_state.models import TerminalOrderState
from checkout.ticket_created.models import TicketCreated
from pipelines import composition, open_failure, parked_items, queues, storage, wire
from pipelines.models import MAIN_BRANCH, CheckpointLog, LineageLink

TERMINAL_LABELS = frozenset({"CANCELLED", "REJECTED", "COMPLETED", "PAYMENT_FAILED"})

# docs/chain.md's state table after the four that need a look at the row: (checkpoint type, label), first match wins.
_BY_TYPE = (
    ("CancellationAccepted", "CANCEL_PENDING"),
    ("OrderDelivered", "DELIVERED"),
    ("OrderPickedUp", "PICKED_UP"),
    ("DeliveryAssigned", "DISPATCHED"),
    ("OrderReadyForDispatch", "READY_FOR_DISPATCH"),
    ("KitchenCommitment", "PREPARING"),
    ("OrderAcceptedByRestaurant", "ACCEPTED"),
    ("TicketCreated", "AWAITING_ACCEPTANCE"),
    ("OrderApproved", "APPROVED"),
    ("ReadyOrder", "APPROVAL_PENDING"),
)


# The facts every order view reads (``order_view``), read ahead with the order's trace (``read_ahead``).
_VIEW_FACTS = (OrderRequest, InitialOrder, TicketCreated, DeliveryAssigned, PaymentOutcome, TerminalOrderState)


def read_ahead(order_id: uuid.UUID) -> None:
    """A request's first reads of an order in one round trip (``storage.read_with_trace``): its trace's number and
    forks, and the main branch's facts an order view reads, each otherwise a round trip of its own on PostgreSQL.
    Only inside a read scope, and only before the request has read anything of the order's trace (a request that
    placed or already read the order knows what it needs); the facts are kept for an order never forked (a forked
    order's view reads its branch's)."""
    looked_up = ((model, {"order_id": order_id, "branch": MAIN_BRANCH}, (), 1) for model in _VIEW_FACTS)
    read = storage.read_with_trace(order_id, *looked_up)
    if read is not None and not read[1]:
        storage.remember(row for rows in read[0] for row in rows)


def label(order_id: uuid.UUID, present: set[str]) -> str:
    """The first row of docs/chain.md's state table that holds for the order."""
    if "OrderCancelled" in present:
        return "CANCELLED"
    if "OrderRejected" in present:
        return "REJECTED"
    if "TerminalOrderState" in present:
        terminal = selectors.fact(TerminalOrderState, order_id)
        if terminal is not None:
            return "COMPLETED" if terminal.outcome == TerminalOrderState.COMPLETED else "PAYMENT_FAILED"
    if "PaymentOutcome" in present:
        outcome = selectors.fact(PaymentOutcome, order_id)
        if outcome is not None and outcome.variant == PaymentOutcome.REQUIRES_REVIEW:
            return "REVIEW_REQUIRED"
    for checkpoint_type, name in _BY_TYPE:
        if checkpoint_type == "KitchenCommitment":
            if "KitchenCommitment" in present and selectors.claimed_by_kitchen(order_id):
                return name
            continue
        if checkpoint_type in present:
            return name
    return "PENDING"


def log_rows(order_id: uuid.UUID) -> list[CheckpointLog]:
    """The order's checkpoints on the branch its view shows (a fork's view holds its parent's history)."""
    return _log_and_parked(order_id, parked=False)[0]


def _log_and_parked(order_id: uuid.UUID, *, parked: bool) -> tuple[list[CheckpointLog], list[Any] | None]:
    """``log_rows``; with ``parked``, also the order's parked items (``open_failure``'s read), in the same round
    trip (``None``: not read)."""
    number = storage.trace_number(order_id)
    if number is None:
        return [], None
    log_read = (CheckpointLog, {"trace_number": number}, ("seq",), None)
    found = storage.rows_together(log_read, parked_items(order_id)) if parked else storage.rows_together(log_read)
    rows = storage.visible_log(order_id, storage.branch_in_view(order_id), found[0])
    return rows, (found[1] if parked else None)


def stalled(order_id: uuid.UUID, parked: list[Any] | None = None) -> Stalled | None:
    failure = open_failure(order_id, parked)
    if failure is None:
        return None
    return Stalled(
        pipeline=failure.parked.pipeline,
        step=failure.parked.step,
        error_class=failure.error_class,
        message=failure.message,
        attempts=failure.attempts,
        dead_lettered=failure.dead_lettered,
    )


def in_progress(order_id: uuid.UUID, rows: list[CheckpointLog]) -> tuple[str, ...]:
    """The pipelines of the order handed to their queue that have not written anything yet (docs/api.md): once one
    has, the state says how far it got. No query while no publication is queued."""
    if not queues.in_force(composition()).queued:
        return ()
    ran = {row.pipeline for row in rows}
    return tuple(p for p in queues.in_progress(order_id) if p not in ran)


def order_view(order_id: uuid.UUID) -> OrderView:
    """The order view of docs/api.md, the same for every transport (``checkout.order_view.render`` renders it)."""
    read_ahead(order_id)
    request = selectors.order_request(order_id)
    assert request is not None, "order_view needs a stored OrderRequest"
    rows, parked = _log_and_parked(order_id, parked=True)
    present = {row.checkpoint_type for row in rows}
    snapshot = selectors.initial_order(order_id)
    ticket = selectors.ticket(order_id)
    delivery = selectors.delivery(order_id)
    outcome = selectors.payment_outcome(order_id)
    terminal = selectors.fact(TerminalOrderState, order_id)
    # The log lists every checkpoint the order has: no need to look for the facts it does not list.
    rejected = selectors.fact(OrderRejected, order_id) if "OrderRejected" in present else None
    cancelled = selectors.fact(OrderCancelled, order_id) if "OrderCancelled" in present else None
    revised = selectors.current_order(order_id) if "RevisedOrder" in present else None
    priced = revised.lines if revised is not None else snapshot.lines if snapshot is not None else None
    if priced is not None:
        lines = tuple(OrderLine.stored(line) for line in priced)
    else:
        lines = tuple(OrderLine(li.menu_item_id, None, li.quantity, None, None) for li in request.line_items.all())
    return OrderView(
        order_id=order_id,
        request_id=request.request_id,
        state=label(order_id, present),
        reason=(cancelled.reason if cancelled else rejected.reason if rejected else None),
        failure_code=outcome.failure_code if outcome else None,
        outcome=terminal.outcome if terminal else None,
        stalled=stalled(order_id, parked),
        consumer_id=request.consumer_id,
        restaurant_id=request.restaurant_id,
        order_total=wire(revised.order_total if revised else snapshot.order_total) if snapshot else None,
        currency=snapshot.currency if snapshot else None,
        lines=lines,
        kitchen_ticket_id=str(ticket.kitchen_ticket_id) if ticket else None,
        dispatch_id=str(delivery.dispatch_id) if delivery else None,
        courier_id=delivery.courier_id if delivery else None,
        payment_id=(
            terminal.payment_id if terminal and terminal.payment_id else outcome.payment_id if outcome else None
        ),
        revisions=revision_history(order_id) if "RevisionRequested" in present else (),
        checkpoints=tuple(
            CheckpointRef(row.checkpoint_type, str(row.checkpoint_id), row.pipeline, wire(row.created_at))
            for row in rows
        ),
        in_progress=in_progress(order_id, rows),
    )


def view_of_trace(trace_id: uuid.UUID) -> OrderView | None:
    """The order view when the trace is an order's (the ops console shows any trace), else None."""
    return order_view(trace_id) if selectors.order_request(trace_id) is not None else None


def revision_outcome(decision: RevisionAccepted | RevisionRefused) -> dict[str, Any]:
    """A decided revision's outcome and reason code (None when accepted)."""
    if isinstance(decision, RevisionAccepted):
        return {"outcome": "ACCEPTED", "reason": None}
    return {"outcome": "REFUSED", "reason": decision.reason}


def revision_history(order_id: uuid.UUID) -> tuple[RevisionEntry, ...]:
    """Every revision of the order, oldest first; an undecided one is PENDING."""
    return tuple(
        RevisionEntry(
            revision_id=str(request.revision_id),
            request_id=request.request_id,
            **(revision_outcome(decision) if decision else {"outcome": "PENDING", "reason": None}),
            order_total=wire(request.order_total),
            lines=tuple(OrderLine.stored(line) for line in request.lines),
            requested_at=wire(request.created_at),
        )
        for request, decision in selectors.revisions(order_id)
    )


def lineage_tree(order_id: uuid.UUID) -> dict[str, Any]:
    """The order's checkpoints as a tree; a merge is nested under its first sorted parent, and a revision (a
    source of its own, in the order's trace) under the order's first checkpoint."""
    rows = log_rows(order_id)
    parents: dict[str, list[str]] = {}
    for link in LineageLink.objects.of_trace(order_id).filter(child_id__in=[row.checkpoint_id for row in rows]):
        parents.setdefault(str(link.child_id), []).append(str(link.parent_id))
    nodes: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = str(row.checkpoint_id)
        nodes[key] = {
            "id": key,
            "type": row.checkpoint_type,
            "pipeline": row.pipeline,
            "step": row.step,
            "createdAt": wire(row.created_at),
            "parentIds": sorted(parents.get(key, [])),
            "children": [],
        }
    roots = []
    for node in nodes.values():
        known = [p for p in node["parentIds"] if p in nodes]
        if known:
            nodes[known[0]]["children"].append(node)
        else:
            roots.append(node)
    if not roots:
        return {}
    roots[0]["children"].extend(roots[1:])
    return roots[0]
