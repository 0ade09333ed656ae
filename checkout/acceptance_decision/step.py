"""Decide the order's acceptance: from the restaurant's event, automatically, by timeout, or by a cancellation.

Every path inserts the order's one ``AcceptanceDecision``; whoever inserts first wins the race.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime

from checkout import selectors
from checkout.acceptance_decision.models import AcceptanceDecision
from pipelines.runner import AWAIT, SKIP, StepContext


def process(ctx: StepContext) -> Any:
    source = ctx.input
    order_id = source.order_id
    if source.contract.name == "CancellationRequested":
        if selectors.is_terminal(order_id):
            return SKIP
        return {"order_id": order_id, "decided_by": AcceptanceDecision.CANCELLED, "reason": "consumer cancelled"}
    event = ctx.event or {}
    decided_by = event.get("decidedBy")
    if decided_by is None:
        if source.acceptance_mode != "auto":
            return AWAIT
        decided_by = AcceptanceDecision.ACCEPTED
    ready_by = None
    if decided_by == AcceptanceDecision.ACCEPTED:
        ready_by = _ready_by(event.get("readyBy"), ctx.now)
    return {"order_id": order_id, "decided_by": decided_by, "ready_by": ready_by, "reason": event.get("reason", "")}


def _ready_by(value: Any, now: datetime.datetime) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value
    parsed = parse_datetime(value) if isinstance(value, str) else None
    return parsed or now + datetime.timedelta(minutes=settings.TPFGO_DEFAULT_PREPARATION_MINUTES)
