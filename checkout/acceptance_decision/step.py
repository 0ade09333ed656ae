"""Decide the order's acceptance: from the restaurant's event, automatically, by timeout, by a cancellation,
or claim the slot for a revision.

Every path inserts an ``AcceptanceDecision`` for the current round (one per ``REVISED`` claim so far);
whoever inserts first wins the round. The restaurant waits while a revision holds the slot.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.utils.dateparse import parse_datetime

from checkout import revisions, selectors
from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.cancellation_requested.models import CancellationRequested
from checkout.revision_requested.models import RevisionRequested
from checkout.ticket_created.models import TicketCreated
from pipelines import AWAIT, SKIP, Output, Produced, StepContext


def process(ctx: StepContext[TicketCreated | CancellationRequested | RevisionRequested]) -> Produced:
    source = ctx.input
    order_id = source.order_id
    current_round = selectors.decision_round(order_id)
    slot = {"order_id": order_id, "round": current_round}
    if isinstance(source, RevisionRequested):
        if revisions.refusal(source) is not None:
            return SKIP
        return Output({**slot, "decided_by": AcceptanceDecision.REVISED, "revision_id": source.revision_id})
    # The ticket is being revised: the restaurant and a consumer's cancellation wait for the revision's decision
    # (ops cancelling overrides it).
    revising = current_round > 1 and selectors.open_revision(order_id) is not None
    if isinstance(source, CancellationRequested):
        if selectors.is_terminal(order_id):
            return SKIP
        if revising:
            return AWAIT
        return Output({**slot, "decided_by": AcceptanceDecision.CANCELLED, "reason": "consumer cancelled"})
    event = ctx.event or {}
    decided_by = event.get("decidedBy")
    if revising and decided_by != AcceptanceDecision.CANCELLED:
        return AWAIT
    if decided_by is None:
        if source.acceptance_mode != "auto":
            return AWAIT
        decided_by = AcceptanceDecision.ACCEPTED
    ready_by = None
    if decided_by == AcceptanceDecision.ACCEPTED:
        ready_by = _ready_by(event.get("readyBy"), ctx.now)
    return Output({**slot, "decided_by": decided_by, "ready_by": ready_by, "reason": event.get("reason", "")})


def _ready_by(value: object, now: datetime.datetime) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value
    parsed = parse_datetime(value) if isinstance(value, str) else None
    return parsed or now + datetime.timedelta(minutes=settings.TPFGO_DEFAULT_PREPARATION_MINUTES)
