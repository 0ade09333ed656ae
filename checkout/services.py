"""The application service every transport calls: placing, reading, cancelling and advancing orders.

It holds the idempotency rules (canonical command hash, replay answer, conflict) and turns engine results into
answers; transports only parse and render. An answer holds the order view in its wire shape: built by the selector
``checkout.state.order_view`` and rendered by ``checkout.order_view.render``, once for every transport (REST answers
it, gRPC and protobuf-over-HTTP map it to their message, FTGO translates it). A failure after ``OrderRequest`` is
stored is never an error here: the answer is the order view with ``stalled`` set.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from checkout import commands, contracts, personal, selectors, state
from checkout.base import OrderCheckpoint
from checkout.cancellation_decision.models import CancellationAccepted, CancellationRefused
from checkout.delivery_assigned.models import DeliveryAssigned
from checkout.order_picked_up.models import OrderPickedUp
from checkout.order_request.models import OrderRequest
from checkout.order_view import render
from checkout.ticket_created.models import TicketCreated
from pipelines import (
    AlreadyExists,
    Command,
    Detail,
    Execution,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Purged,
    ServiceError,
    StepStatus,
    Unavailable,
    actions,
    backlog,
    current_engine,
    deadlines,
    ids,
    input_limits,
    storage,
    tombstone,
)


@dataclass(frozen=True)
class Placed:
    view: dict[str, Any]
    created: bool


def order_id_for(key: str) -> uuid.UUID:
    return ids.deterministic_id("order", key)


@storage.scoped  # facts and reference rows are read once per request
def place_order(data: object, key: str | None) -> Placed:
    key = commands.check_key(key)
    order_id = order_id_for(key)
    checks = selectors.new_order_checks(order_id)  # read with validation's reference rows, in one round trip
    command = commands.canonical(data)
    digest = commands.command_hash(command)
    placed, buried = (bool(rows) for rows in checks.rows())
    if placed:
        return _replay(order_id, command, digest)
    if buried:
        refuse_if_purged(key, order_id)
    backlog.admit("checkout")  # a new order: refused (nothing stored) while the backlog bound is reached
    payload = {**command, "requestId": key, "commandHash": digest}
    execution = current_engine().start("checkout", payload, key, new=True)  # just looked: nothing stored for this key
    first = execution.first
    if first.status is StepStatus.INSERTED:
        return Placed(render(state.order_view(order_id)), created=True)
    if first.status in (StepStatus.REPLAYED, StepStatus.LOST):  # a concurrent duplicate got there first
        return _replay(order_id, command, digest)
    raise Unavailable("the order could not be recorded yet; retry with the same Idempotency-Key")


def key_reused() -> AlreadyExists:
    """A new order's key already named another request. Keys are global (an order's id derives from its key
    alone), so the other request may be another consumer's: the answer says nothing of it, not its id, its
    consumer or its state, only what the client can do."""
    return AlreadyExists(
        "this Idempotency-Key was already used with a different request; keys are global, shared by every client "
        "and consumer, so it may have been another's: send this order with a new key of your own (a UUID)",
        [Detail("Idempotency-Key", "reused with a different request")],
    )


def _replay(order_id: uuid.UUID, command: Mapping[str, Any], digest: str) -> Placed:
    stored = selectors.order_request(order_id)
    assert stored is not None
    if not commands.same_request(stored, command, digest):
        raise key_reused()
    return Placed(render(state.order_view(order_id)), created=False)


def purged(what: str, when: datetime.datetime | None = None) -> Purged:
    """``PURGED``: ``what`` was used and the retention policy removed its order. An API client is told no more
    (``when`` None): the date would tell whoever sends a key, another consumer's perhaps (keys are global), roughly
    when that key's order was placed. Ops, who may read every order, are told the date (``dated_for_ops``)."""
    on = f" on {when:%Y-%m-%d}" if when is not None else ""
    return Purged(f"{what} was purged{on} by the retention policy")


def refuse_if_purged(key: str, order_id: uuid.UUID) -> None:
    """A key whose order the retention policy removed starts nothing: ``PURGED`` (410), nothing stored. The
    order's id is its trace's, derived from the key, so its tombstone is found by id (one look-up per new order).
    The answer says the key was used and its order purged, not when, nor the order's id (``key_reused``'s rule)."""
    if tombstone(order_id) is not None:
        raise purged(KEY_PURGED)


KEY_PURGED = "the order of this Idempotency-Key"


def missing_order(order_id: object, *, dated_for_ops: bool = False) -> ServiceError:
    """What a look-up of an order that is not stored answers: ``PURGED`` if a tombstone names it (with its date
    for ops only: ``dated_for_ops``), else ``NOT_FOUND``."""
    buried = tombstone(str(order_id))
    if buried is not None:
        return purged(f"order {order_id}", buried.purged_at if dated_for_ops else None)
    return NotFound(f"order {order_id} not found")


_HEX_ID = re.compile("[0-9a-fA-F]{32}")


def read_id(value: object) -> uuid.UUID | None:
    """The UUID ``value`` names in a form ``uuid.UUID`` reads (any case, hyphens or none, braces, ``urn:uuid:``),
    written in ASCII hex digits; None otherwise. ``uuid.UUID`` alone also reads digits of other scripts (U+FF10,
    U+0660) and a leading space for a ``0``, which would give one order many more names than docs/api.md lists."""
    text = str(value)
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        return None
    digits = text.replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "")  # what uuid.UUID drops
    return parsed if _HEX_ID.fullmatch(digits) else None


def parse_id(value: object, what: str) -> uuid.UUID:
    parsed = read_id(value)
    if parsed is None:
        raise NotFound(f"{what} {value} not found" if value != "" else f"no {what} has an empty id")
    return parsed


def _order(order_id: object) -> OrderRequest:
    parsed = parse_id(order_id, "order")
    state.read_ahead(parsed)  # in a read scope: the order's view then needs one more round trip
    request = selectors.order_request(parsed)
    if request is None:
        raise missing_order(order_id)
    return request


@storage.scoped
def get_order(order_id: object) -> dict[str, Any]:
    return render(state.order_view(_order(order_id).order_id))


@storage.scoped
def lineage(order_id: object) -> dict[str, Any]:
    return state.lineage_tree(_order(order_id).order_id)


@storage.scoped
def cancel_order(order_id: object, note: str | None = None) -> dict[str, Any]:
    """The cancellation decides the ticket's acceptance while the restaurant has not: in the order's turn, as the
    restaurant's answer (``_decide``), taken before the order's first read (``in_order_turn``). An accepted one
    ends the waits it made moot (``end_moot_waits``)."""
    with in_order_turn(order_id):
        request = _order(order_id)
        sealed = None
        if note:
            input_limits.check_text(note, "note", max_length=500)
            consumer = selectors.consumer(request.consumer_id)
            if consumer is None:  # a reference row removed by hand: its key went with it
                raise InvalidArgument("the consumer's personal data was erased", [Detail("note", "consumer erased")])
            sealed = personal.seal(consumer, note, "note")
        current_engine().run("cancellation-request", request, event={"note": sealed}, branch=branch_for(request))
        accepted = selectors.fact(CancellationAccepted, request.order_id)
        refused = selectors.fact(CancellationRefused, request.order_id)
        if accepted is not None:
            end_moot_waits(request.order_id, contracts.CONSUMER_CANCELLED)
    if accepted is None and refused is None:
        if selectors.open_revision(request.order_id) is not None:
            raise Unavailable("the cancellation is recorded and waits for a revision being decided; ask again")
        raise Unavailable("the cancellation was recorded but not decided yet; ask again")
    decision = {"outcome": "ACCEPTED", "reason": None} if accepted else {"outcome": "REFUSED", "reason": refused.reason}  # type: ignore[union-attr]
    return {"cancellation": decision, "order": render(state.order_view(request.order_id))}


def end_moot_waits(order_id: uuid.UUID, reason: str) -> list[uuid.UUID]:
    """End the cancelled order's waits now (``deadlines.settle``): no restaurant's answer, courier's event or review
    decides it any more, so none is listed as waiting until its deadline settles it. In the order's turn."""
    return deadlines.settle(order_id, f"the order was cancelled ({reason})")


@contextmanager
def in_order_turn(order_id: object) -> Iterator[None]:
    """The order's turn (``actions.in_turn``, its decisions' lock) for a request that reads the order first: taken
    before that read, since a read scope keeps what it read (the order's forks, ``_order``'s read ahead), and a
    fork that ran while the request waited would not be seen. A malformed id takes none (``_order`` refuses it)."""
    parsed = read_id(order_id)
    if parsed is None:
        yield
        return
    with actions.in_turn(parsed):
        yield


def _ticket(ticket_id: object) -> TicketCreated:
    ticket = TicketCreated.objects.filter(kitchen_ticket_id=parse_id(ticket_id, "ticket")).first()
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} not found")
    return ticket


def branch_for(awaited: OrderCheckpoint) -> str | None:
    """The branch an event on ``awaited`` resumes: the order's (the branch its view shows) when that view holds this
    checkpoint, as a fork from it does (the fork's first step waits on its parent's checkpoint); else None, the
    checkpoint's own (an event on a checkpoint the order's view no longer shows runs, and is refused, there)."""
    model = type(awaited)
    return storage.branch_in_view(awaited.order_id) if selectors.fact(model, awaited.order_id) == awaited else None


def _decide(ticket: TicketCreated, event: Mapping[str, Any]) -> dict[str, Any]:
    """The engine says whether a stored decision is this one again (a replay: the same answer) or another.

    In the order's turn (``actions.in_turn``, its decisions' lock), as a fork and the deadline pass: a decision that
    came first is a checkpoint the fork's preview did not show (the fork is refused); one that came second finds the
    fork's branch in the order's view and decides the fork's wait, never the parent's the fork supersedes."""
    with actions.in_turn(ticket.order_id):
        if selectors.acceptance(ticket.order_id) is None:
            _not_terminal(ticket.order_id)
        execution = current_engine().run(
            "restaurant-acceptance", ticket, step="acceptance_decision", event=event, branch=branch_for(ticket)
        )
    if execution.first.status in (StepStatus.LOST, StepStatus.AWAITING):
        raise FailedPrecondition("the acceptance of this ticket was already decided")
    return render(state.order_view(ticket.order_id))


@storage.scoped
def accept_ticket(ticket_id: object, ready_by: object = None) -> dict[str, Any]:
    ticket = _ticket(ticket_id)
    if ready_by not in (None, ""):
        parsed = input_limits.parse_time(ready_by)
        if parsed is None or parsed.tzinfo is None:
            raise InvalidArgument("readyBy must be an ISO-8601 time with a zone", [Detail("readyBy", "malformed")])
    return _decide(ticket, {"decidedBy": "ACCEPTED", "readyBy": ready_by or None})


@storage.scoped
def reject_ticket(ticket_id: object, reason: object) -> dict[str, Any]:
    ticket = _ticket(ticket_id)
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidArgument("reason is required (at most 300 characters)", [Detail("reason", "is required")])
    input_limits.check_text(reason, "reason")
    return _decide(ticket, {"decidedBy": "REJECTED", "reason": reason.strip()})


def _delivery(dispatch_id: object) -> DeliveryAssigned:
    assigned = DeliveryAssigned.objects.filter(dispatch_id=parse_id(dispatch_id, "dispatch")).first()
    if assigned is None:
        raise NotFound(f"dispatch {dispatch_id} not found")
    return assigned


def _advance(execution: Execution, order_id: uuid.UUID) -> dict[str, Any]:
    if execution.first.status is StepStatus.LOST:
        raise FailedPrecondition("the delivery already moved on")
    return render(state.order_view(order_id))


def _not_terminal(order_id: uuid.UUID) -> None:
    """An order ops cancelled while it waited for an event takes no more events."""
    if selectors.is_terminal(order_id):
        raise FailedPrecondition(f"the order is already {state.order_view(order_id).state}")


@storage.scoped
def pickup(dispatch_id: object) -> dict[str, Any]:
    """A second pickup of the same dispatch is the same command: it replays (the engine finds the stored one)."""
    assigned = _delivery(dispatch_id)
    with actions.in_turn(assigned.order_id):  # the courier's event decides a wait: as the restaurant's (``_decide``)
        if not selectors.has(OrderPickedUp, assigned.order_id):
            _not_terminal(assigned.order_id)
        execution = current_engine().run(
            "delivery-execution",
            assigned,
            step="order_picked_up",
            event={"action": "pickup"},
            branch=branch_for(assigned),
        )
    return _advance(execution, assigned.order_id)


@storage.scoped
def dropoff(dispatch_id: object) -> dict[str, Any]:
    assigned = _delivery(dispatch_id)
    with actions.in_turn(assigned.order_id):
        picked = selectors.fact(OrderPickedUp, assigned.order_id)
        if picked is None:
            raise FailedPrecondition("the order has not been picked up yet")
        execution = current_engine().run(
            "delivery-execution", picked, step="order_delivered", event={"action": "dropoff"}, branch=branch_for(picked)
        )
    return _advance(execution, assigned.order_id)


def revision_id_for(order_id: uuid.UUID, key: str) -> uuid.UUID:
    return ids.deterministic_id("revision", f"{order_id}:{key}")


@storage.scoped
def revise_order(order_id: object, data: object, key: str | None) -> dict[str, Any]:
    """Revise an order's line items: ``data = {"items": [{"menuItemId", "quantity"}, ...]}`` (the full new list).

    Answers ``{"revision": {"revisionId", "outcome": "ACCEPTED" | "REFUSED", "reason"}, "order": <order view>}``;
    raises NotFound (unknown order), InvalidArgument (bad body, missing key), FailedPrecondition (the key was
    used for a different revision, a concurrent request with the key is still deciding, or the order was forked).

    In the order's turn (``in_order_turn``), as a fork: a revision that came first is a checkpoint the fork's
    preview did not show (the fork is refused); one that came second finds the order forked (``_not_forked``).
    """
    with in_order_turn(order_id):
        request = _order(order_id)
        key = commands.check_key(key)
        command = commands.revision(data, request.restaurant_id)
        digest = commands.command_hash(command)
        revision_id = revision_id_for(request.order_id, key)
        failed = False
        if selectors.revision_request(revision_id) is None:
            if selectors.initial_order(request.order_id) is None:
                # The placement's chain was cut before its first step (its node died): the sweeper resumes it.
                raise Unavailable("the order is still being placed; ask again with the same Idempotency-Key")
            _not_forked(request.order_id)
            # The payload is parked as JSON if a step fails on it: the order's id goes in as text.
            payload = {**command, "orderId": str(request.order_id), "requestId": key, "commandHash": digest}
            source = Command(revision_id, payload)
            execution = current_engine().run(
                "order-revision", source, key=f"{request.order_id}:{key}", trace_id=request.order_id
            )
            failed = bool(execution.failures())
    return _revision_answer(request.order_id, revision_id, digest, failed)


def _not_forked(order_id: uuid.UUID) -> None:
    """A revision's facts have no lineage branch: on a forked order its steps would read and write the main branch,
    which the order no longer shows (the revision accepted, re-authorized, and the fork going on with the old lines).
    """
    if selectors.forked(order_id):
        raise FailedPrecondition(
            "ops forked this order (re-ran it from a stored checkpoint): a forked order cannot be revised",
            [Detail("orderId", "forked")],
        )


def _revision_answer(order_id: uuid.UUID, revision_id: uuid.UUID, digest: str, failed: bool) -> dict[str, Any]:
    stored = selectors.revision_request(revision_id)
    if stored is None:
        raise Unavailable("the revision could not be recorded yet; retry with the same Idempotency-Key")
    if stored.command_hash != digest:
        raise FailedPrecondition(
            "this Idempotency-Key was already used for a different revision of this order",
            [Detail("Idempotency-Key", "reused with a different request")],
        )
    decision = selectors.revision_decision(revision_id)
    if decision is None:
        if failed:
            raise Unavailable("the revision was recorded but not decided yet; ask again with the same key")
        raise FailedPrecondition("a request with this Idempotency-Key is still deciding the revision; ask again")
    outcome = {"revisionId": str(revision_id), **state.revision_outcome(decision)}
    return {"revision": outcome, "order": render(state.order_view(order_id))}
