"""The dashboard's waiting orders: every wait the composition declares a deadline for, with its open waits (age,
deadline, round), and the escalated deliveries nobody has dealt with yet.

Bounded like every dashboard figure: the open waits come from ``OpenWait`` (kept by triggers: what waits now,
never every wait ever), a page of each await oldest first, their count capped.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, QuerySet

from checkout.delivery_escalated.models import DeliveryEscalated
from checkout.order_cancelled.models import OrderCancelled
from checkout.order_delivered.models import OrderDelivered
from checkout.order_picked_up.models import OrderPickedUp
from pipelines import composition, database_now, deadlines

PAGE = 10
COUNT_CAP = 1000


@dataclass(frozen=True)
class Wait:
    trace_id: uuid.UUID
    opened_at: datetime.datetime
    due_at: datetime.datetime
    round: int
    age: datetime.timedelta
    overdue: bool

    @property
    def age_text(self) -> str:
        """``3 min``, ``2 h 05 min``, ``1 d 4 h``: how long the order has waited, to the minute."""
        minutes = max(0, int(self.age.total_seconds() // 60))
        days, minutes = divmod(minutes, 24 * 60)
        hours, minutes = divmod(minutes, 60)
        if days:
            return f"{days} d {hours} h"
        return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


@dataclass
class Await:
    """One await of the composition: what it is, what runs when its deadline passes, and who waits on it."""

    label: str
    pipeline: str
    step: str
    minutes: float
    then: list[str]
    count: int
    capped: bool
    review: bool  # ops resolve these: approve or decline
    waits: list[Wait] = field(default_factory=list)

    @property
    def period_text(self) -> str:
        """``30 min``, ``24 h``, ``1 h 30 min``: one round of the deadline."""
        hours, minutes = divmod(round(self.minutes), 60)
        if not hours:
            return f"{minutes} min"
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def waiting(page: int = PAGE) -> list[Await]:
    now = database_now()  # the clock the waits' deadlines are written with: not this console node's
    out = []
    for pipeline, step, deadline in deadlines.awaits(composition()):
        live = deadlines.live(pipeline.name, step.name, deadline)
        count = live.order_by().values("pk")[:COUNT_CAP].count()
        out.append(
            Await(
                label=deadline.label or f"{pipeline.name} / {step.name}",
                pipeline=pipeline.name,
                step=step.name,
                minutes=deadlines.period(deadline).total_seconds() / 60,
                then=list(deadline.pipelines),
                count=count,
                capped=count >= COUNT_CAP,
                review=pipeline.name == "order-finalization",
                waits=[
                    Wait(w.trace_id, w.opened_at, w.due_at, w.round, now - w.opened_at, w.due_at <= now)
                    for w in live[:page]
                ],
            )
        )
    return out


def escalations(page: int = PAGE) -> QuerySet[DeliveryEscalated]:
    """Escalated deliveries, newest first, leaving out those the courier has since completed or that were
    cancelled (each a probe of the fact's unique ``order_id``)."""
    picked = OrderPickedUp.objects.filter(order_id=OuterRef("order_id"))
    delivered = OrderDelivered.objects.filter(order_id=OuterRef("order_id"))
    cancelled = OrderCancelled.objects.filter(order_id=OuterRef("order_id"))
    return (
        DeliveryEscalated.objects.exclude(Exists(delivered))
        .exclude(Exists(cancelled))
        .exclude(stage=DeliveryEscalated.PICKUP, order_id__in=picked.values("order_id"))
        .order_by("-created_at")[:page]
    )
