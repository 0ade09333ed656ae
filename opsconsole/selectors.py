"""Read-side queries of the ops console: the dashboard's figures, triage look-ups and changelist helpers.

Every dashboard figure is bounded: the funnel reads folded per-day counts plus the unfolded tail of the log
(``opsconsole.funnel``), the error groups read a window through the ``created_at`` index, lists are limited, and
counts stop at a cap. Nothing here writes.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sized
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, Max, Min, Model, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from checkout import selectors as checkout_selectors
from checkout import state
from checkout.order_view import OrderView
from opsconsole import funnel as funnel_counts
from pipelines import checkpoint_models, composition, database_now, database_reckoned, storage, sweep_grace
from pipelines import open_hold as open_hold  # the item's unreleased hold: it waits for a resume, not a retry
from pipelines.models import (
    Checkpoint,
    CheckpointLog,
    ErrorSinkEntry,
    LineageLink,
    OpenParked,
    OpsAction,
    ParkedItem,
    ParkingOutcome,
    PausedItem,
    PauseRelease,
    RetryClaim,
    RetryScheduled,
    trace_numbers_expression,
)

FUNNEL_DAYS = 7
LIST_LIMIT = 20
# A scheduled attempt this late and still unclaimed has probably lost its broker message.
OVERDUE_WINDOW = datetime.timedelta(days=7)


# -- changelists ------------------------------------------------------------------------------------------
def bounded_count(object_list: Sized, cap: int) -> int:
    """``SELECT COUNT(*) FROM (… LIMIT cap)``: never more work than ``cap`` rows."""
    if not isinstance(object_list, QuerySet):
        return len(object_list)
    return object_list.order_by().values("pk")[:cap].count()


def only_columns(queryset: QuerySet[Any], columns: tuple[str, ...]) -> QuerySet[Any]:
    return queryset.only(*columns) if columns else queryset


def search(
    queryset: QuerySet[Any], term: str, uuid_fields: tuple[str, ...], key_fields: tuple[str, ...]
) -> QuerySet[Any]:
    """Exact matches: a UUID against the id columns, anything else against the key columns.

    A trace id is matched through its number and the checkpoint log's (trace_number, seq) index: checkpoint
    tables carry no index of their own on it (every index costs each insert). The log and the lineage links index
    their ids only after the trace's number, so an id is looked for in the traces it can belong to (itself, or the
    trace of the row it names). The idempotency key has no index either: a key search reads the one table the
    changelist shows.
    """
    term = term.strip()
    if not term:
        return queryset
    try:
        value: Any = uuid.UUID(term)
        fields = uuid_fields
    except ValueError:
        value, fields = term, key_fields
    if not fields:
        return queryset.none()
    query = Q()
    for name in fields:
        query |= _trace_match(queryset.model, value) if name == "trace_id" else Q(**{name: value})
    if isinstance(value, uuid.UUID) and issubclass(queryset.model, (CheckpointLog, LineageLink)):
        owner = trace_of(value)
        query &= Q(trace_number__in=trace_numbers_expression([value] if owner is None else [value, owner]))
    return queryset.filter(query)


def _trace_match(model: type[Model], trace_id: uuid.UUID) -> Q:
    if issubclass(model, Checkpoint):
        ids = CheckpointLog.objects.of_trace(trace_id).filter(checkpoint_type=model.__name__)
        return Q(pk__in=list(ids.values_list("checkpoint_id", flat=True)))
    if issubclass(model, (CheckpointLog, LineageLink)):
        return Q(trace_number__in=trace_numbers_expression([trace_id]))
    return Q(trace_id=trace_id)


# -- the dashboard ----------------------------------------------------------------------------------------
def chain_order() -> dict[str, int]:
    """Checkpoint type → its position in the composition (pipelines, steps, then outcomes)."""
    order: dict[str, int] = {}
    for pipeline in composition().pipelines:
        for step in pipeline.steps:
            for model in step.models:
                order.setdefault(model.__name__, len(order))
    return order


@dataclass(frozen=True)
class FunnelRow:
    checkpoint_type: str
    counts: list[int]
    total: int
    width: int  # percent of the widest row, for the bar


def funnel(days: int = FUNNEL_DAYS) -> tuple[list[datetime.date], list[FunnelRow], funnel_counts.Position]:
    """Orders (distinct traces) reaching each checkpoint type per day, over the last ``days`` days.

    Read from the folded per-day counts plus the log rows not folded yet (``opsconsole.funnel``), never from seven
    days of the log; also returns how far the fold has come, for the dashboard's note.
    """
    today = database_reckoned().date()  # the day the log's times are written in, not this console node's
    dates = [today - datetime.timedelta(days=n) for n in range(days - 1, -1, -1)]
    counts, position = funnel_counts.per_day(dates[0])
    per_type: dict[str, dict[datetime.date, int]] = {}
    for (day, name), orders in counts.items():
        if orders:
            per_type.setdefault(name, {})[day] = orders
    order = chain_order()
    names = sorted(per_type, key=lambda name: (order.get(name, len(order)), name))
    totals = {name: sum(per_type[name].values()) for name in names}
    widest = max(totals.values(), default=0) or 1
    rows = [
        FunnelRow(name, [per_type[name].get(day, 0) for day in dates], totals[name], round(100 * totals[name] / widest))
        for name in names
    ]
    return dates, rows, position


def _latest_outcome() -> QuerySet[ParkingOutcome]:
    return ParkingOutcome.objects.filter(parked=OuterRef("pk")).order_by("-id")


OPEN_STATUSES = ("open", "retrying", "held", "dead")


def _held() -> Exists:
    """An open failure a paused step holds: a hold of its parked item that no drain released yet."""
    return Exists(PausedItem.objects.filter(parked_id=OuterRef("parked_id"), releases__isnull=True))


def open_parked(status: str) -> QuerySet[OpenParked]:
    """Open failures of one status: ``open`` (all of them), ``retrying`` (a retry is scheduled or runs), ``held``
    (a paused step holds it: nothing runs before the resume's drain releases it; a dead letter whose redrive
    reached the paused step too) or ``dead`` (a dead letter waiting for a remediation)."""
    rows = OpenParked.objects.all()
    if status == "open":
        return rows
    held = _held()
    if status == "held":
        return rows.filter(held)
    return rows.filter(~held, dead_at__isnull=status != "dead")


def stalled_by_step() -> list[dict[str, Any]]:
    """Orders with an open failure, per (pipeline, step): how many, and how many of them are retrying, held by a
    paused step and dead letters (an operator acts on each differently: wait, resume the step, or remediate). A
    dead letter whose redrive a paused step holds counts as held, as the *Paused steps* page counts it: it waits
    for the resume, and another redrive is refused.

    Read from ``OpenParked`` (open failures only, kept by triggers), not from every parked item ever.
    """
    dead, alive = Q(dead_at__isnull=False), Q(dead_at__isnull=True)
    rows = (
        OpenParked.objects.annotate(on_hold=_held())
        .values("pipeline", "step")
        .annotate(
            orders=Count("trace_id", distinct=True),
            retrying=Count("trace_id", filter=alive & Q(on_hold=False), distinct=True),
            held=Count("trace_id", filter=Q(on_hold=True), distinct=True),
            dead=Count("trace_id", filter=dead & Q(on_hold=False), distinct=True),
        )
        .order_by("-orders", "pipeline", "step")
    )
    return [dict(row) for row in rows]


def dead_letters(limit: int = LIST_LIMIT) -> list[ParkedItem]:
    """The newest open dead letters (not those whose redrive a paused step holds), with their last outcome's
    reason, attempts and error, and the error code of the item's last failed attempt (the runbook's rows,
    docs/operations.md, are keyed by it)."""
    newest = open_parked("dead").order_by("-dead_at", "parked_id")
    ids = list(newest.values_list("parked_id", flat=True)[:limit])
    latest = _latest_outcome()
    last_entry = ErrorSinkEntry.objects.filter(
        pipeline=OuterRef("pipeline"), step=OuterRef("step"), item_id=OuterRef("item_id")
    ).order_by("-attempt", "-created_at")
    items = (
        ParkedItem.objects.filter(pk__in=ids)
        .annotate(
            reason=Subquery(latest.values("reason")[:1]),
            attempts=Subquery(latest.values("attempts")[:1]),
            last_error=Subquery(latest.values("last_error")[:1]),
            dead_at=Subquery(latest.values("created_at")[:1]),
            error_code=Subquery(last_entry.values("error_code")[:1]),
        )
        .only("id", "pipeline", "step", "item_type", "item_id", "trace_id", "created_at")
    )
    order = {parked_id: n for n, parked_id in enumerate(ids)}
    return sorted(items, key=lambda item: order[item.pk])


def overdue_parked(limit: int = LIST_LIMIT, now: datetime.datetime | None = None) -> list[RetryScheduled]:
    """Scheduled attempts past due by more than the sweeper's grace period at ``now``, unclaimed, of items nothing
    ended since: what ``tpfgo_parked_overdue`` counts, by the database's clock unless given (the due times are
    written with it: a console node whose clock was ahead listed retries that were not late)."""
    late = (now or database_now()) - sweep_grace()
    claimed = RetryClaim.objects.filter(parked=OuterRef("parked"), attempt=OuterRef("attempt"))
    ended = ParkingOutcome.objects.filter(parked=OuterRef("parked"), created_at__gte=OuterRef("created_at"))
    # A paused step holds the attempt: the drain says when it runs, so it is late only once its release is.
    late_release = PauseRelease.objects.filter(hold=OuterRef("pk"), due_at__lt=late)
    held = PausedItem.objects.filter(parked=OuterRef("parked"), attempt=OuterRef("attempt")).exclude(
        Exists(late_release)
    )
    return list(
        RetryScheduled.objects.filter(due_at__lt=late, due_at__gte=late - OVERDUE_WINDOW)
        .exclude(Exists(claimed))
        .exclude(Exists(ended))
        .exclude(Exists(held))
        .select_related("parked")
        .order_by("due_at")[:limit]
    )


def error_window(days: int | None) -> datetime.datetime | None:
    """Where a window of the last ``days`` days starts (None: all time)."""
    return None if days is None else database_reckoned() - datetime.timedelta(days=days)  # the entries' clock


def error_groups(since: datetime.datetime | None) -> list[dict[str, Any]]:
    """Error-sink entries per (pipeline, step, error class) since ``since`` (None: all time): distinct items,
    entries, the newest one and the error codes its entries carry (``codes``: the runbook's rows are keyed by the
    code, docs/operations.md; a class mostly has one)."""
    entries = ErrorSinkEntry.objects.all()
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    rows = (
        entries.values("pipeline", "step", "error_class")
        .annotate(items=Count("item_id", distinct=True), entries=Count("id"), newest=Max("created_at"))
        .order_by("-newest")
    )
    codes: dict[tuple[str, str, str], list[str]] = {}
    for pipeline, step, error_class, code in (
        entries.values_list("pipeline", "step", "error_class", "error_code").distinct().order_by("error_code")
    ):
        codes.setdefault((pipeline, step, error_class), []).append(code)
    return [
        {
            **row,
            "error_short": row["error_class"].rsplit(".", 1)[-1],
            "codes": codes.get((row["pipeline"], row["step"], row["error_class"]), []),
        }
        for row in rows
    ]


def dead_letters_per_group() -> dict[tuple[str, str, str], int]:
    """Orders with an open dead letter per error group (pipeline, step, error class): the ones the group's bulk
    redrive selects (``checkout.bulk_selection``: a dead letter at that step whose item failed with that class at
    one of its attempts). Read from the open dead letters' own entries, whatever the groups' window."""
    dead = open_parked("dead")
    at_step = dead.filter(trace_id=OuterRef("trace_id"), pipeline=OuterRef("pipeline"), step=OuterRef("step"))
    rows = (
        ErrorSinkEntry.objects.filter(trace_id__in=dead.values("trace_id"))
        .filter(Exists(at_step))
        .values("pipeline", "step", "error_class")
        .annotate(dead=Count("trace_id", distinct=True))
        .order_by()
    )
    return {(row["pipeline"], row["step"], row["error_class"]): row["dead"] for row in rows}


# -- triage -------------------------------------------------------------------------------------------------
def order_view(trace_id: uuid.UUID) -> OrderView | None:
    """The trace's order view (None when the trace is no order's), built once per read scope: an entry's page
    shows it in two of its fields."""
    return storage.memo(("opsconsole.order_view", trace_id), lambda: state.view_of_trace(trace_id))


def attempts(pipeline: str, item_id: uuid.UUID, branch: str) -> list[ErrorSinkEntry]:
    """Every recorded failed attempt of one item in one pipeline on one lineage branch (a fork's first step has an
    input of the parent branch), oldest first (tracebacks deferred)."""
    return list(
        ErrorSinkEntry.objects.filter(pipeline=pipeline, item_id=item_id, branch=branch)
        .only("id", "step", "attempt", "error_class", "error_code", "retryable", "message", "created_at")
        .order_by("attempt", "created_at")
    )


def parked_for(pipeline: str, item_id: uuid.UUID, branch: str) -> ParkedItem | None:
    found = ParkedItem.objects.filter(pipeline=pipeline, item_id=item_id, branch=branch)
    return found.order_by("-created_at").first()


def outcomes_of(parked: ParkedItem) -> list[ParkingOutcome]:
    return list(parked.outcomes.order_by("id"))


def schedules_of(parked: ParkedItem) -> list[RetryScheduled]:
    return list(parked.schedules.order_by("attempt"))


def with_parking_status(queryset: QuerySet[ParkedItem]) -> QuerySet[ParkedItem]:
    """Annotates ``last``: the newest outcome of each parked item (None while it is open), and ``held``: whether a
    paused step holds it (a hold no drain released yet), so it waits for a resume, not for a retry."""
    unreleased = PausedItem.objects.filter(parked=OuterRef("pk"), releases__isnull=True)
    return queryset.annotate(last=Subquery(_latest_outcome().values("outcome")[:1]), held=Exists(unreleased))


def ops_actions(trace_id: uuid.UUID) -> list[OpsAction]:
    return list(OpsAction.objects.filter(trace_id=trace_id).order_by("created_at"))


def trace_of(wanted: uuid.UUID) -> uuid.UUID | None:
    """The trace (for checkout, the order) a checkpoint, parked item or error entry belongs to, or the trace's own
    (an order's, a search query's).

    A checkpoint is found by its own table's primary key: one probe per checkpoint table, in one query.
    """
    probes = [m.objects.filter(pk=wanted).order_by().values_list("trace_id") for m in checkpoint_models().values()]
    found = list(probes[0].union(*probes[1:], all=True)[:1]) if probes else []
    if found:
        return found[0][0]
    for model in (ParkedItem, ErrorSinkEntry):
        trace = model.objects.filter(pk=wanted).values_list("trace_id", flat=True).first()
        if trace is not None:
            return trace
    if checkout_selectors.order_request(wanted) is not None:
        return wanted
    if storage.trace_number(wanted) is not None:  # any other trace's own id: a search query's, say
        return wanted
    return None


def is_forwarded_entry(wanted: uuid.UUID) -> bool:
    """The id is an error-sink entry another instance forwarded: its trace is kept in that instance's database."""
    return ErrorSinkEntry.objects.filter(pk=wanted).exclude(source=ErrorSinkEntry.LOCAL).exists()


def row(model: type[Model], pk: object) -> Model | None:
    return model._default_manager.filter(pk=pk).first()


def date_span(queryset: QuerySet[Any], field: str) -> tuple[datetime.datetime, datetime.datetime] | None:
    """The first and last value of an indexed date column (two index look-ups), in the current time zone."""
    span = queryset.order_by().aggregate(first=Min(field), last=Max(field))
    if span["first"] is None or span["last"] is None:
        return None
    return timezone.localtime(span["first"]), timezone.localtime(span["last"])


def periods_with_rows(
    queryset: QuerySet[Any], field: str, start: datetime.date, end: datetime.date, unit: str
) -> list[datetime.date]:
    """The days (``unit="day"``) or months (``"month"``) in ``[start, end)`` that hold a row, oldest first.

    A loose index scan: the first value at or after a cursor (one index look-up), then the cursor jumps to the
    next period, so the cost is one look-up per period that holds rows (at most 31), never a scan of the rows.
    """
    zone = timezone.get_current_timezone()
    found: list[datetime.date] = []
    cursor, stop = start, datetime.datetime.combine(end, datetime.time.min, tzinfo=zone)
    base = queryset.order_by()
    while cursor < end:
        since = datetime.datetime.combine(cursor, datetime.time.min, tzinfo=zone)
        first = base.filter(**{f"{field}__gte": since, f"{field}__lt": stop}).aggregate(first=Min(field))["first"]
        if first is None:
            break
        day = timezone.localtime(first, zone).date()
        period = day if unit == "day" else day.replace(day=1)
        found.append(period)
        if unit == "day":
            cursor = period + datetime.timedelta(days=1)
        else:
            cursor = (period + datetime.timedelta(days=32)).replace(day=1)
    return found
