"""Which orders a bulk remediation covers: dead letters, stalled or waiting orders, narrowed by filters.

``parse(...)`` turns the filters of the console's bulk page or ``manage.py remediate`` into a ``Filters``
(``INVALID_ARGUMENT`` for a bad one, before anything is read); ``select(filters)`` answers the order ids, newest
first, at most ``limit`` and never more than ``TPFGO_BULK_REMEDIATION_MAX_ORDERS``. Dead letters and stalled
orders are read from ``OpenParked`` (open failures only, kept by triggers), waiting orders from ``OpenWait`` (open
waits only), so the cost follows what is open now, not every failure or wait ever.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_date

from checkout import selectors
from pipelines import Detail, InvalidArgument, composition, deadlines, input_limits
from pipelines.models import ErrorSinkEntry, OpenParked, ParkedItem, PausedItem

DEAD_LETTER = "dead_letter"
STALLED = "stalled"
WAITING = "waiting"
STATES = (DEAD_LETTER, STALLED, WAITING)


def max_orders() -> int:
    return int(getattr(settings, "TPFGO_BULK_REMEDIATION_MAX_ORDERS", 1000))


@dataclass(frozen=True)
class Filters:
    state: str = DEAD_LETTER
    pipeline: str = ""
    step: str = ""
    code: str = ""
    error_class: str = ""
    since: datetime.datetime | None = None
    limit: int | None = None

    def as_query(self) -> dict[str, str]:
        """The filters as the console's query string (empty ones left out)."""
        out = {k: str(v) for k, v in asdict(self).items() if v not in ("", None)}
        if self.since is not None:
            out["since"] = self.since.isoformat()
        return out


def parse(
    state: object = DEAD_LETTER,
    *,
    pipeline: object = "",
    step: object = "",
    code: object = "",
    error_class: object = "",
    since: object = None,
    limit: object = None,
) -> Filters:
    """Validate the filters; every bad one is named in the error's details."""
    details = []
    state = str(state or DEAD_LETTER).strip()
    if state not in STATES:
        details.append(Detail("state", f"one of {', '.join(STATES)}"))
    texts = {k: str(v or "").strip() for k, v in (("pipeline", pipeline), ("step", step), ("code", code))}
    texts["error_class"] = str(error_class or "").strip()
    if state == WAITING:
        _check_await(texts, details)
    when = _since(since, details)
    count = _limit(limit, details)
    if details:
        raise InvalidArgument("bad bulk remediation filters", details)
    return Filters(state, since=when, limit=count, **texts)


def _since(raw: object, details: list[Detail]) -> datetime.datetime | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, datetime.datetime):
        return raw
    text = str(raw).strip()
    parsed = input_limits.parse_time(text)  # None: malformed, impossible, or outside years 1-9999 in UTC
    if parsed is None and text.isascii():
        try:
            day = parse_date(text)
        except ValueError:  # well formed but impossible: 2026-02-30
            day = None
        parsed = datetime.datetime.combine(day, datetime.time.min) if day is not None else None
    if parsed is None:
        details.append(Detail("since", "an ISO date or date-time"))
        return None
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, datetime.UTC)


def _limit(raw: Any, details: list[Detail]) -> int | None:
    if raw in (None, ""):
        return None
    try:
        count = int(raw)
    except (TypeError, ValueError):
        count = 0
    if count < 1:
        details.append(Detail("limit", "a whole number of orders, at least 1"))
        return None
    return count


def select(filters: Filters) -> list[uuid.UUID]:
    """The orders the filters name, newest first, at most ``limit`` (and the configured maximum)."""
    cap = min(filters.limit or max_orders(), max_orders())
    found = _waiting(filters, cap) if filters.state == WAITING else _failing(filters, cap)
    return list(dict.fromkeys(found))[:cap]


def _failing(filters: Filters, cap: int) -> list[uuid.UUID]:
    rows = OpenParked.objects.all()
    if filters.state == DEAD_LETTER:  # not one whose redrive a paused step holds: it waits for the resume
        held = PausedItem.objects.filter(parked_id=OuterRef("parked_id"), releases__isnull=True)
        rows = rows.filter(dead_at__isnull=False).exclude(Exists(held))
    if filters.pipeline:
        rows = rows.filter(pipeline=filters.pipeline)
    if filters.step:
        rows = rows.filter(step=filters.step)
    if filters.since is not None:
        parked = ParkedItem.objects.filter(pk=OuterRef("parked_id"), created_at__gte=filters.since)
        rows = rows.filter(Exists(parked))
    if filters.code or filters.error_class:
        # The item failed with this code (class) at one of its attempts: the grouping the error sink shows. Its
        # attempts are those on its parked item's branch: a fork's item does not count its parent's failures.
        branch = ParkedItem.objects.filter(pk=OuterRef(OuterRef("parked_id"))).values("branch")[:1]
        entries = ErrorSinkEntry.objects.filter(
            trace_id=OuterRef("trace_id"), pipeline=OuterRef("pipeline"), step=OuterRef("step"), branch=Subquery(branch)
        )
        if filters.code:
            entries = entries.filter(error_code=filters.code)
        if filters.error_class:
            entries = entries.filter(error_class=filters.error_class)
        rows = rows.filter(Exists(entries))
    ordered = rows.order_by("-dead_at", "trace_id") if filters.state == DEAD_LETTER else rows.order_by("trace_id")
    return list(ordered.values_list("trace_id", flat=True)[: cap * 2])  # an order may have two open failures


def _waiting(filters: Filters, cap: int) -> list[uuid.UUID]:
    """Orders waiting on an await with a deadline (``OpenWait``: the restaurant's acceptance, the courier's pickup
    and dropoff, ops' payment review) that nothing has settled yet, newest wait first; ``pipeline`` and ``step``
    narrow it to one await, ``since`` to the waits opened since."""
    found: list[tuple[datetime.datetime, uuid.UUID]] = []
    for pipeline, step, deadline in _awaits(filters):
        rows = deadlines.live(pipeline.name, step.name, deadline)
        if filters.since is not None:
            rows = rows.filter(opened_at__gte=filters.since)
        found += rows.order_by("-opened_at", "wait_id").values_list("opened_at", "trace_id")[:cap]
    found.sort(key=lambda row: row[0], reverse=True)
    return [order for _, order in found if not selectors.is_terminal(order)]


def _awaits(filters: Filters) -> list[tuple[Any, Any, Any]]:
    every = deadlines.awaits(composition())
    return [(p, s, d) for p, s, d in every if filters.pipeline in ("", p.name) and filters.step in ("", s.name)]


def _check_await(texts: dict[str, str], details: list[Detail]) -> None:
    """Waiting orders are narrowed by an await (pipeline and step), never by a failure's code or class."""
    if texts["code"] or texts["error_class"]:
        details.append(Detail("state", "waiting orders have no failure to filter by error code or class"))
    if not (texts["pipeline"] or texts["step"]):
        return
    every = deadlines.awaits(composition())
    if not any(texts["pipeline"] in ("", p.name) and texts["step"] in ("", s.name) for p, s, _ in every):
        known = ", ".join(f"{p.name}.{s.name}" for p, s, _ in every)
        field = "step" if texts["step"] else "pipeline"
        details.append(Detail(field, f"not an await with a deadline (one of {known})"))
