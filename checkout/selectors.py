"""Read-side queries over the checkpoint tables, shared by steps, the derived state and every interface.

Inside the store's read scope (one per request, opened by the application service and the batch
engine) a fact found or inserted once is answered from memory for the rest of the request (checkpoints never
change), reference rows are read once per request, and a batch step loads a fact for its whole batch at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.authorization_voided.models import AuthorizationVoided
from checkout.base import ORDER_KEY
from checkout.courier_reassigned.models import CourierReassigned
from checkout.delivery_assigned.models import DeliveryAssigned
from checkout.initial_order.models import InitialOrder
from checkout.kitchen_commitment.models import KitchenCommitment
from checkout.models import Consumer, Courier, CourierLoad, MenuItem, Restaurant
from checkout.ops_cancellation.models import OpsCancellation
from checkout.ops_courier_choice.models import OpsCourierChoice
from checkout.order_cancelled.models import OrderCancelled
from checkout.order_rejected.models import OrderRejected
from checkout.order_request.models import OrderRequest
from checkout.payment_authorized.models import PaymentAuthorized
from checkout.payment_outcome.models import PaymentOutcome
from checkout.payment_reauthorized.models import PaymentReauthorized
from checkout.payment_review_resolved.models import PaymentReviewResolved
from checkout.ready_order.models import ReadyOrder
from checkout.revised_order.models import RevisedOrder
from checkout.revised_ticket.models import RevisedTicket
from checkout.revision_decision.models import RevisionAccepted, RevisionRefused
from checkout.revision_requested.models import RevisionRequested
from checkout.terminal_order_state.models import TerminalOrderState
from checkout.ticket_created.models import TicketCreated
from pipelines import ids, storage, tombstone_look_up
from pipelines.models import MAIN_BRANCH, Checkpoint

T = TypeVar("T", bound=Checkpoint)


def fact(model: type[T], order_id: uuid.UUID) -> T | None:
    """The order's one fact of this kind on the branch the read sees, or None.

    Every checkout checkpoint is unique per order and lineage branch. A step sees its own branch; any other read
    the order's active branch (its newest fork's, see ``pipelines.branches``). An order never forked is on the
    main branch, read through the request's memo and a batch's one load.
    """
    facts: Any = model.objects  # every checkout checkpoint has an indexed order_id (OrderCheckpoint)
    if getattr(model, "business_key_fields", None) != ORDER_KEY:
        return storage.first(model, order_id=order_id)
    branch = storage.branch_in_view(order_id)  # an order's trace id is its order id
    if branch != MAIN_BRANCH:
        return _on_branch(model, order_id, branch, facts.filter(order_id=order_id))

    def load(keys: Sequence[str]) -> list[T]:
        if len(keys) == 1:
            return storage.rows(model, limit=1, order_id=keys[0], branch=MAIN_BRANCH)
        return list(facts.filter(order_id__in=keys, branch=MAIN_BRANCH))

    return storage.fact(model, ids.text(order_id) if type(order_id) is uuid.UUID else str(order_id), load)


def _on_branch(model: type[T], order_id: uuid.UUID, branch: str, candidates: Any) -> T | None:
    """A forked order's fact on the branch the read sees, kept for the request's scope once found (facts never
    change, and the branch is part of the key): a console page asks for the same facts several times. A fact not
    found is read again when asked again, since the request may insert it meanwhile."""
    kept: dict[type[Checkpoint], Checkpoint] = storage.memo(("checkout.branch_facts", str(order_id), branch), dict)
    found = kept.get(model)
    if found is None:
        found = storage.on_view(order_id, branch, candidates)
        if found is not None:
            kept[model] = found
    return found  # type: ignore[return-value]


def has(model: type[Checkpoint], order_id: uuid.UUID) -> bool:
    if getattr(model, "business_key_fields", None) == ORDER_KEY:
        if storage.current_scope() is not None or storage.branch_in_view(order_id) != MAIN_BRANCH:
            return fact(model, order_id) is not None
        facts: Any = model.objects
        return bool(facts.filter(order_id=order_id, branch=MAIN_BRANCH).exists())
    return bool(model.objects.filter(order_id=order_id).exists())  # type: ignore[misc]


def new_order_checks(order_id: uuid.UUID) -> Any:
    """A new order's two checks: its request stored (on any branch: a fork needs a stored order), a tombstone naming
    its trace (an order's id is its trace's). Read with the request's next look-ups (``storage.read_along``):
    ``.rows()`` gives the rows of each, an empty list for none."""
    return storage.read_along((OrderRequest, {"order_id": order_id}, (), 1), tombstone_look_up(order_id))


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


def decisions(order_id: uuid.UUID) -> list[AcceptanceDecision]:
    """The ticket's decision slot, round by round: ``REVISED`` claims, then at most one final decision."""
    # Never memoized: a request that claims the slot reads it again after its own insert.
    branch = storage.branch_in_view(order_id)
    if branch == MAIN_BRANCH:
        return storage.rows(AcceptanceDecision, order_by=("round",), order_id=order_id, branch=MAIN_BRANCH)
    by_round: dict[int, list[AcceptanceDecision]] = {}
    for row in AcceptanceDecision.objects.filter(order_id=order_id).order_by("round"):
        by_round.setdefault(row.round, []).append(row)
    seen = (storage.on_view(order_id, branch, rows) for rows in by_round.values())
    return [row for row in seen if row is not None]


def acceptance(order_id: uuid.UUID) -> AcceptanceDecision | None:
    """The final decision (accepted, rejected, timed out or cancelled), if any."""
    return next((d for d in decisions(order_id) if d.decided_by != AcceptanceDecision.REVISED), None)


def decision_round(order_id: uuid.UUID) -> int:
    """The round the next claimant of the decision slot takes: 1, then one more per revision that claimed it."""
    if not revised(order_id):
        return 1
    return 1 + sum(1 for d in decisions(order_id) if d.decided_by == AcceptanceDecision.REVISED)


def forked(order_id: uuid.UUID) -> bool:
    """Whether ops forked the order: a read outside a step sees its newest fork's branch, not the main branch."""
    return storage.branch_in_view(order_id) != MAIN_BRANCH


def revised(order_id: uuid.UUID) -> bool:
    """Whether the order was ever asked to be revised: read once per request, or once for a whole batch step.

    Rounds and the current content depend on revisions; an order never revised (nearly all) skips those reads.
    """
    key = ids.text(order_id) if type(order_id) is uuid.UUID else str(order_id)
    scope = storage.current_scope()
    if scope is not None and key in scope.key_set:
        batch = scope.keys
        found = storage.step_memo(
            "revised",
            lambda: {
                ids.text(o)
                for o in RevisionRequested.objects.filter(order_id__in=batch).values_list("order_id", flat=True)
            },
        )
        return key in found
    return storage.memo(("revised", key), lambda: storage.first(RevisionRequested, order_id=order_id) is not None)


def revision_request(revision_id: uuid.UUID) -> RevisionRequested | None:
    return storage.first(RevisionRequested, revision_id=revision_id)


def open_revision(order_id: uuid.UUID) -> uuid.UUID | None:
    """The revision that holds the decision slot and is not closed yet (no revised ticket, no refusal)."""
    for claim in decisions(order_id):
        if claim.decided_by != AcceptanceDecision.REVISED or claim.revision_id is None:
            continue
        closed = RevisedTicket.objects.filter(revision_id=claim.revision_id).exists()
        if not closed and not RevisionRefused.objects.filter(revision_id=claim.revision_id).exists():
            return claim.revision_id
    return None


def current_order(order_id: uuid.UUID) -> RevisedOrder | None:
    """The newest accepted revision's lines and total, or None (the order is as placed)."""
    return RevisedOrder.objects.filter(order_id=order_id).order_by("-created_at", "-id").first()


def current_lines(order_id: uuid.UUID) -> list[dict[str, Any]]:
    """What the kitchen prepares: the newest revised ticket's lines, else the ticket's."""
    newest = (
        RevisedTicket.objects.filter(order_id=order_id).order_by("-created_at", "-id").first()
        if revised(order_id)
        else None
    )
    if newest is not None:
        return list(newest.lines)
    created = ticket(order_id)
    return list(created.lines) if created else []


def current_total(order_id: uuid.UUID) -> Decimal | None:
    newest = current_order(order_id) if revised(order_id) else None
    if newest is not None:
        return newest.order_total
    snapshot = initial_order(order_id)
    return snapshot.order_total if snapshot else None


def current_authorization(order_id: uuid.UUID) -> str | None:
    """The authorization capture takes: the newest re-authorization's, else the order's."""
    reauthorized = (
        PaymentReauthorized.objects.filter(order_id=order_id).order_by("-created_at", "-id").first()
        if revised(order_id)
        else None
    )
    if reauthorized is not None:
        return reauthorized.authorization_id
    authorized = authorization(order_id)
    return authorized.authorization_id if authorized else None


def revision_decision(revision_id: uuid.UUID) -> RevisionAccepted | RevisionRefused | None:
    return storage.first(RevisionAccepted, revision_id=revision_id) or storage.first(
        RevisionRefused, revision_id=revision_id
    )


def revisions(order_id: uuid.UUID) -> list[tuple[RevisionRequested, RevisionAccepted | RevisionRefused | None]]:
    """The order's revision requests, oldest first, each with its decision (None while undecided)."""
    requests = list(RevisionRequested.objects.filter(order_id=order_id).order_by("created_at", "id"))
    ids_ = [r.revision_id for r in requests]
    decided: dict[uuid.UUID, RevisionAccepted | RevisionRefused] = {
        d.revision_id: d for d in RevisionAccepted.objects.filter(revision_id__in=ids_)
    }
    decided.update({d.revision_id: d for d in RevisionRefused.objects.filter(revision_id__in=ids_)})
    return [(r, decided.get(r.revision_id)) for r in requests]


def payment_outcome(order_id: uuid.UUID) -> PaymentOutcome | None:
    return fact(PaymentOutcome, order_id)


def delivery(order_id: uuid.UUID) -> DeliveryAssigned | None:
    return fact(DeliveryAssigned, order_id)


def current_courier(order_id: uuid.UUID, assigned_courier_id: str) -> str:
    """Who is to carry the order: the courier an overdue pickup was reassigned to, else the one assigned."""
    reassigned = fact(CourierReassigned, order_id)
    return reassigned.courier_id if reassigned else assigned_courier_id


def ops_courier_choice(order_id: uuid.UUID) -> str | None:
    choice = fact(OpsCourierChoice, order_id)
    return choice.courier_id if choice else None


def payment_review(order_id: uuid.UUID) -> PaymentReviewResolved | None:
    return fact(PaymentReviewResolved, order_id)


def ops_cancellation(order_id: uuid.UUID) -> OpsCancellation | None:
    return fact(OpsCancellation, order_id)


def is_captured(order_id: uuid.UUID) -> bool:
    outcome = payment_outcome(order_id)
    return outcome is not None and outcome.variant == PaymentOutcome.CAPTURED


def is_terminal(order_id: uuid.UUID) -> bool:
    """Cancelled, rejected or finalized: nothing more can happen to the order."""
    return any(has(model, order_id) for model in (OrderCancelled, OrderRejected, TerminalOrderState))


def claimed_by_kitchen(order_id: uuid.UUID) -> bool:
    commitment = fact(KitchenCommitment, order_id)
    return commitment is not None and commitment.claimed_by == KitchenCommitment.KITCHEN


def is_voided(order_id: uuid.UUID) -> bool:
    return has(AuthorizationVoided, order_id)


def active_deliveries(courier_ids: list[str], stored: dict[str, int] | None = None) -> dict[str, int]:
    """Deliveries assigned to each courier and not delivered yet.

    One probe of ``CourierLoad`` (kept by the database, see ``checkout.derived``) whatever the history, or
    ``stored``: the loads ``dispatch_candidates`` read with the candidates. Inside a batch step, the assignments
    its batch-mates made before this item count as they would have one order after another: a manual courier's
    delivery stays active (it waits for the courier), an auto courier's is delivered within the same run, before
    the next order would have been dispatched.
    """
    if stored is None:
        stored = storage.step_memo(
            ("courier_load", tuple(courier_ids)),
            lambda: dict(CourierLoad.objects.filter(courier_id__in=courier_ids).values_list("courier_id", "active")),
        )
    in_flight = storage.step_memo("courier_in_flight", _InFlight)
    pending = storage.pending()
    for model, fields in pending[in_flight.seen :]:  # only what batch-mates added since the last item
        cid = fields.get("courier_id")
        if model is DeliveryAssigned and cid is not None:
            chosen = courier(cid)
            if chosen is None or chosen.completion_mode == Courier.MANUAL:
                in_flight.load[cid] = in_flight.load.get(cid, 0) + 1
    in_flight.seen = len(pending)
    return {cid: stored.get(cid, 0) + in_flight.load.get(cid, 0) for cid in courier_ids}


@dataclass
class _InFlight:
    """Assignments a batch step's earlier items made: how far ``pending`` was read, and the load per courier."""

    seen: int = 0
    load: dict[str, int] = field(default_factory=dict)


# -- reference data: read once per request (prepared look-ups), never cached across requests -------------------
def consumer(consumer_id: str) -> Consumer | None:
    return storage.memo(("consumer", consumer_id), lambda: storage.first(Consumer, pk=consumer_id))


def references(consumer_id: str, restaurant_id: str) -> tuple[Consumer | None, Restaurant | None, dict[str, MenuItem]]:
    """A command's reference rows: the consumer, the restaurant and its menu (``consumer``, ``restaurant``,
    ``menu``), read together in one round trip when the request has none of them yet. A row the request already
    read is kept: one request sees one version of the reference data."""
    keys = (("consumer", consumer_id), ("restaurant", restaurant_id), ("menu", restaurant_id))
    scope = storage.current_scope()
    if scope is None or any(key not in scope.memo for key in keys):
        consumers, restaurants, items = storage.rows_together(
            (Consumer, {"pk": consumer_id}, (), 1),
            (Restaurant, {"pk": restaurant_id}, (), 1),
            (MenuItem, {"restaurant_id": restaurant_id}, (), None),
        )
        read = (
            consumers[0] if consumers else None,
            restaurants[0] if restaurants else None,
            {m.item_id: m for m in items},
        )
        if scope is None:
            return read
        for key, value in zip(keys, read, strict=True):
            scope.memo.setdefault(key, value)
    return scope.memo[keys[0]], scope.memo[keys[1]], scope.memo[keys[2]]


def restaurant(restaurant_id: str) -> Restaurant | None:
    return storage.memo(("restaurant", restaurant_id), lambda: storage.first(Restaurant, pk=restaurant_id))


def menu(restaurant_id: str) -> dict[str, MenuItem]:
    """The restaurant's menu items by item id."""
    return storage.memo(
        ("menu", restaurant_id), lambda: {m.item_id: m for m in storage.rows(MenuItem, restaurant_id=restaurant_id)}
    )


def courier(courier_id: str) -> Courier | None:
    return storage.memo(("courier", courier_id), lambda: storage.first(Courier, pk=courier_id))


def dispatch_candidates(order_id: uuid.UUID) -> tuple[str | None, list[str], dict[str, int] | None]:
    """The courier ops chose for the order (``ops_courier_choice``), the couriers available for dispatch
    (``available_couriers``) and, when read with them, the couriers' stored loads (``CourierLoad`` by courier, for
    ``active_deliveries``; ``None``: not read). A single order on the main branch whose choice the request has not
    read yet reads all three in one round trip, the loads of every courier that has a ``CourierLoad`` row (at most
    one row per courier, as the candidates are every available courier); otherwise (a batch step, a fork) the
    choice and the candidates as each selector reads them, and no loads."""
    scope = storage.current_scope()
    key = ids.text(order_id) if type(order_id) is uuid.UUID else str(order_id)
    if (
        scope is None
        or scope.keys
        or (OpsCourierChoice, key) in scope.facts
        or storage.branch_in_view(order_id) != MAIN_BRANCH
    ):
        return ops_courier_choice(order_id), available_couriers(), None
    choices, couriers, loads = storage.rows_together(
        (OpsCourierChoice, {"order_id": order_id, "branch": MAIN_BRANCH}, (), 1),
        (Courier, {"available": True}, ("id",), None),
        (CourierLoad, {}, (), None),
    )
    storage.remember(choices)
    chosen = choices[0].courier_id if choices else None
    return chosen, _keep_couriers(couriers), {row.courier_id: row.active for row in loads}


def available_couriers() -> list[str]:
    """Ids of the couriers available for dispatch, in id order (read once per batch step).

    The rows are kept for the request too: the courier chosen is read again later (its completion mode).
    """

    def load() -> list[str]:
        return _keep_couriers(storage.rows(Courier, order_by=("id",), available=True))

    return storage.step_memo("available_couriers", load)


def _keep_couriers(couriers: list[Courier]) -> list[str]:
    """Keep the courier rows for the request (``courier``); their ids."""
    scope = storage.current_scope()
    if scope is not None:
        for row in couriers:
            scope.memo[("courier", row.pk)] = row
    return [row.pk for row in couriers]


def prepare_reference(consumer_ids: Sequence[str], restaurant_ids: Sequence[str]) -> None:
    """Read the consumers, restaurants and menus of a whole batch in three queries (inside a read scope)."""
    scope = storage.current_scope()
    if scope is None:
        return
    wanted_consumers = {c for c in consumer_ids if ("consumer", c) not in scope.memo}
    wanted_restaurants = {r for r in restaurant_ids if ("restaurant", r) not in scope.memo}
    found_consumers = {c.pk: c for c in Consumer.objects.filter(pk__in=wanted_consumers)} if wanted_consumers else {}
    for cid in wanted_consumers:
        scope.memo[("consumer", cid)] = found_consumers.get(cid)
    if not wanted_restaurants:
        return
    found_restaurants = {r.pk: r for r in Restaurant.objects.filter(pk__in=wanted_restaurants)}
    menus: dict[str, dict[str, MenuItem]] = {rid: {} for rid in wanted_restaurants}
    for item in MenuItem.objects.filter(restaurant_id__in=wanted_restaurants):
        menus[item.restaurant_id][item.item_id] = item
    for rid in wanted_restaurants:
        scope.memo[("restaurant", rid)] = found_restaurants.get(rid)
        scope.memo[("menu", rid)] = menus[rid]
