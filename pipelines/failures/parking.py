"""Parking: a failed item waits, insert-only, for its next attempt; exhaustion dead-letters it.

The database is the source of truth: ``RetryScheduled`` rows say what is due, a unique ``RetryClaim``
decides which worker runs an attempt, and ``ParkingOutcome`` rows record how it ended.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.utils.module_loading import import_string

from pipelines.contracts import ids
from pipelines.contracts.declarations import RetryPolicy
from pipelines.contracts.errors import is_retryable
from pipelines.failures import scrub
from pipelines.models import (
    MAIN_BRANCH,
    Checkpoint,
    ErrorSinkEntry,
    ParkedItem,
    ParkingOutcome,
    PausedItem,
    PauseRelease,
    RetryClaim,
    RetryScheduled,
    RetryTakeover,
)
from pipelines.store import claim_locks, clock
from pipelines.store.lookups import LookUp
from pipelines.store.store import store

if TYPE_CHECKING:
    from pipelines.contracts.declarations import Pipeline, Step
    from pipelines.contracts.steps import Command, Item

log = structlog.get_logger("pipelines.parking")

PAUSED = "PAUSED"  # the reason an item held at a paused step waits (pipelines.failures.holds)


def describe(value: Checkpoint | Command | list[Checkpoint]) -> tuple[str, Any, Any]:
    """(item type, item id, payload snapshot) of a step's input."""
    if isinstance(value, list):
        first = sorted(value, key=lambda cp: str(cp.pk))[0]
        return type(first).__name__, first.pk, [cp.contract.payload(cp) for cp in value]
    if isinstance(value, Checkpoint):
        return type(value).__name__, value.pk, value.contract.payload(value)
    return "Command", value.id, dict(value.payload)


def default_retry_policy() -> RetryPolicy:
    return RetryPolicy(**settings.TPFGO_RETRY_POLICY)


def retry_policy(pipeline: str, step: Step) -> RetryPolicy:
    """The step's declared policy (or the default), with ``TPFGO_RETRY_POLICIES["pipeline.step"]`` over it.

    The override lets a deployment (or a test) retune one step without touching the composition.
    """
    policy = step.retry or default_retry_policy()
    override = getattr(settings, "TPFGO_RETRY_POLICIES", {}).get(f"{pipeline}.{step.name}")
    return dataclasses.replace(policy, **override) if override else policy


def failure_id(kind: str, *parts: object, branch: str = MAIN_BRANCH) -> uuid.UUID:
    """The id of a failure row of ``kind`` (a parked item's, an error-sink entry's) derived from ``parts``. A fork's
    first step takes its parent's checkpoint as input, so off the main branch the branch is the id's last part: the
    fork's failure is not the parent's. On the main branch it is left out, so every id given before forks stays."""
    off_main = () if branch == MAIN_BRANCH else (branch,)
    return ids.deterministic_id(kind, *parts, *off_main)


def parked_id(pipeline: str, step: str, item_id: object, branch: str = MAIN_BRANCH) -> uuid.UUID:
    """The item's one parked row at this step on ``branch`` (``failure_id``'s rule)."""
    return failure_id("parked", pipeline, step, str(item_id), branch=branch)


def park(
    spec: Pipeline,
    step: Step,
    item: Item,
    event: Mapping[str, Any] | None,
    attempt: int,
    exc: BaseException,
    *,
    hide: Callable[[str], str] = str,
) -> ParkedItem:
    """Park the failed item: its next attempt scheduled, or dead-lettered with its error's text as ``hide`` leaves it
    (``scrub.for_item``: the secrets the item's error may quote replaced). An attempt already decided records nothing
    more (``decided``), also when two processes fail it at once (``deciding``)."""
    policy = retry_policy(spec.name, step)
    now = clock.now()  # the next attempt's due time is the database's: the sweeper compares it with that clock
    pk = parked_id(spec.name, step.name, describe(item.value)[1], item.branch)
    with transaction.atomic(), deciding(pk):
        parked = parked_row(spec, step, item, event, now)
        if decided(parked, attempt):
            log.info("item.parked_already", parked_id=str(parked.pk), attempt=attempt)
            return parked
        if not is_retryable(exc):
            dead_letter(parked, "non_retryable", attempt, exc, hide=hide)
        elif attempt >= policy.max_attempts:
            dead_letter(parked, "retry_exhausted", attempt, exc, hide=hide)
        else:
            schedule(parked, attempt + 1, now + datetime.timedelta(seconds=policy.delay(attempt)), now)
    log.warning("item.parked", parked_id=str(parked.pk), attempt=attempt, retryable=is_retryable(exc))
    return parked


def decided(parked: ParkedItem, attempt: int) -> bool:
    """Attempt ``attempt`` of the item has its decision already: its dead letter, or the next attempt scheduled (by
    its failure, or by a redrive after its dead letter). The same input failing again at the same attempt (run one by
    one where a batch-mate follows the first's failure, a caller sending the same key again) is the same failure:
    as its error-sink entry, whose id is the attempt's, the log keeps the first decision, and a dead letter is not
    retried because its second failure was retryable."""
    return (
        parked.outcomes.filter(outcome=ParkingOutcome.DEAD_LETTERED, attempts=attempt).exists()
        or parked.schedules.filter(attempt=attempt + 1).exists()
    )


@contextlib.contextmanager
def deciding(parked: uuid.UUID) -> Iterator[None]:
    """Decide the parked item's attempts one at a time, inside the caller's transaction: two processes failing the
    same attempt at once (a hung worker and the sweeper, two nodes given the same key) would both find it undecided
    and both record a decision, a dead letter and the next attempt even. The second waits until the first's
    transaction ends, then finds its decision (``decided``). PostgreSQL: the item's transaction-level advisory lock
    (``claim_locks.in_turn_to_commit``, taken whatever ``TPFGO_CLAIM_LOCKS``: it cannot outlive the transaction on a
    pooler's connection); SQLite's transactions take the write lock when they begin (``transaction_mode``
    IMMEDIATE, tpfgo_site/dburl.py), so they are one at a time already."""
    if connection.vendor != "postgresql":
        yield
        return
    with claim_locks.in_turn_to_commit("parking", parked):
        yield


def parked_row(
    spec: Pipeline, step: Step, item: Item, event: Mapping[str, Any] | None, now: datetime.datetime
) -> ParkedItem:
    """The item's one ``ParkedItem`` at this step (written the first time it stops there: failed or paused). Its id is
    the item's at the step (``parked_id``): ``park`` looks for it in the item's turn (``deciding``), so two first
    failures at once insert it once; a hold that meets another insert of it fails on the id (``holds.hold``)."""
    item_type, item_id, _ = describe(item.value)
    pk = parked_id(spec.name, step.name, item_id, item.branch)
    parked = ParkedItem.objects.filter(pk=pk).first()
    if parked is not None:
        return parked
    value = item.value
    return ParkedItem.objects.create(
        id=pk,
        pipeline=spec.name,
        step=step.name,
        item_type=item_type,
        item_id=item_id,
        trace_id=item.trace_id,
        idempotency_key=item.key,
        event=dict(event) if event is not None else None,
        command=dict(value.payload) if item_type == "Command" else None,
        merge_ids=[str(cp.pk) for cp in value] if isinstance(value, list) else None,
        branch=item.branch,
        created_at=now,
    )


def dead_letter(
    parked: ParkedItem, reason: str, attempts: int, exc: BaseException, *, hide: Callable[[str], str] = scrub.NOTHING
) -> None:
    ParkingOutcome.objects.create(
        parked=parked,
        outcome=ParkingOutcome.DEAD_LETTERED,
        reason=reason,
        attempts=attempts,
        last_error=hide(f"{type(exc).__name__}: {exc}")[:2000],
        created_at=clock.stamp(),
    )
    log.error("item.dead_lettered", parked_id=str(parked.pk), reason=reason, attempts=attempts)


def schedule(
    parked: ParkedItem,
    attempt: int,
    due: datetime.datetime,
    now: datetime.datetime | None = None,
    *,
    send: bool = True,
) -> bool:
    """Schedule ``attempt`` (once: a unique row) and hand it to the broker when the transaction commits.

    ``send=False``: the caller runs the attempt itself at once (a redrive), so no message goes out: a worker taking
    it would race the caller to the claim. Should the caller die before it claims, the sweeper's lost-message pass
    sends the attempt after the grace period, as for any message lost."""
    if RetryScheduled.objects.filter(parked=parked, attempt=attempt).exists():
        return False
    try:
        with transaction.atomic():
            RetryScheduled.objects.create(parked=parked, attempt=attempt, due_at=due, created_at=now or clock.stamp())
    except IntegrityError:
        return False
    if send:
        transaction.on_commit(lambda: enqueue(parked.pk, attempt, due))
    return True


def last_attempt(parked: ParkedItem) -> int:
    """The highest attempt number the item reached: scheduled, claimed or recorded in an outcome."""
    numbers = [
        parked.schedules.aggregate(n=Max("attempt"))["n"],
        parked.claims.aggregate(n=Max("attempt"))["n"],
        parked.outcomes.aggregate(n=Max("attempts"))["n"],
    ]
    return max([1, *[int(n) for n in numbers if n is not None]])


def next_attempt(spec: Pipeline, step: Step, item: Item) -> int:
    """The attempt number of a new run of the item at this step that no retry scheduled (a deadline's later round):
    1 the first time it stops there, else the one after the highest its parked row reached (``last_attempt``). A
    failure recorded at an attempt already decided would record nothing (``decided``), nor its error-sink entry."""
    pk = parked_id(spec.name, step.name, describe(item.value)[1], item.branch)
    parked = ParkedItem.objects.filter(pk=pk).first()
    return 1 if parked is None else last_attempt(parked) + 1


def open_items(trace_id: uuid.UUID) -> list[ParkedItem]:
    """The trace's parked items that nothing closed yet (waiting for a retry, or dead-lettered)."""
    out = []
    for parked in ParkedItem.objects.filter(trace_id=trace_id).order_by("created_at"):
        outcome = latest_outcome(parked)
        if outcome is None or outcome.outcome == ParkingOutcome.DEAD_LETTERED:
            out.append(parked)
    return out


def close_open(trace_id: uuid.UUID, reason: str, *, keep_pipelines: tuple[str, ...] = ()) -> list[ParkedItem]:
    """Cancel the trace's open parked items (a remediation made them moot); their pending retries stop."""
    closed = []
    for parked in open_items(trace_id):
        if parked.pipeline in keep_pipelines:
            continue
        resolve(parked, ParkingOutcome.CANCELLED, last_attempt(parked), reason[:40])
        closed.append(parked)
    return closed


def enqueue(parked: uuid.UUID, attempt: int, due: datetime.datetime) -> bool | None:
    """Hand a scheduled attempt to ``TPFGO_RETRY_ENQUEUE``: False when the hook says the broker refused it."""
    hook = getattr(settings, "TPFGO_RETRY_ENQUEUE", "pipelines.tasks.enqueue_retry")
    if not hook:
        return None
    store.durable()  # a message names the parked item: it leaves only once the item is durable
    sent: bool | None = import_string(hook)(parked, attempt, due)
    return sent


def latest_outcome(parked: ParkedItem) -> ParkingOutcome | None:
    return parked.outcomes.order_by("-id").first()


def is_open_for(parked: ParkedItem, attempt: int) -> bool:
    """Attempt ``attempt`` may run: nothing ended the item, or a redrive scheduled it after a dead letter."""
    outcome = latest_outcome(parked)
    if outcome is None:
        return True
    return outcome.outcome == ParkingOutcome.DEAD_LETTERED and attempt > outcome.attempts


def claim(parked: ParkedItem, attempt: int, worker: str, *, again: bool = False, alone: bool = False) -> bool:
    """Exactly one worker wins an attempt: the claim is a unique insert.

    A claim already there is taken over, instead of being left to the sweeper's claim timeout, unless the sweeper
    has taken over already (it scheduled a later attempt):
    - ``alone``: the caller holds the attempt's lock (``pipelines.store.claim_locks``), so the run that claimed it has
      ended; without an outcome (the caller checked), it died;
    - ``again``: the claimer is a task Celery runs again (``pipelines.tasks``: the database went away under its
      earlier run, or that run's process died), and the claim was made by the same task, on any host
      (``same_task``). This is what decides where the database has no such lock.
    """
    try:
        with transaction.atomic():
            RetryClaim.objects.create(parked=parked, attempt=attempt, worker=worker, created_at=clock.stamp())
    except IntegrityError:
        if not (again or alone) or RetryScheduled.objects.filter(parked=parked, attempt__gt=attempt).exists():
            return False
        if alone:
            lost = RetryClaim.objects.filter(parked=parked, attempt=attempt).values_list("worker", flat=True).first()
            RetryTakeover.objects.create(
                parked=parked, attempt=attempt, worker=worker[:200], taken_from=lost or "", created_at=clock.stamp()
            )
            log.warning("retry.claim_taken_over", parked_id=str(parked.pk), attempt=attempt, claimed_by=lost)
            return True
        return RetryClaim.objects.filter(same_task(worker), parked=parked, attempt=attempt).exists()
    return True


def same_task(worker: str) -> Q:
    """The claims (``RetryClaim``, ``Resumption``) made by the task that ``worker`` names, ``<task id>@<host>``, on
    any host; a name without a task's id matches itself only."""
    task, at, _host = worker.partition("@")
    return Q(worker__startswith=f"{task}@") if at and task else Q(worker=worker)


def resolve(parked: ParkedItem, outcome: str, attempts: int, reason: str = "") -> None:
    ParkingOutcome.objects.create(
        parked=parked, outcome=outcome, reason=reason, attempts=attempts, created_at=clock.stamp()
    )


@dataclass(frozen=True)
class OpenFailure:
    parked: ParkedItem
    error_class: str
    message: str
    attempts: int
    dead_lettered: bool  # waits for a remediation: a dead letter, unless a redrive of it is held (``redrive_held``)
    held: bool = False  # a paused step holds it: it waits for the resume, not for a retry or a remediation
    redrive_held: bool = False  # held, and a dead letter: a redrive of it reached the paused step


def parked_items(trace_id: uuid.UUID) -> LookUp:
    """``open_failure``'s read of the trace's parked items, newest first, as a look-up a caller may read together
    with others (``storage.rows_together``) and pass back as ``parked``."""
    return (ParkedItem, {"trace_id": trace_id}, ("-created_at",), None)


def open_failure(trace_id: uuid.UUID, items: Sequence[ParkedItem] | None = None) -> OpenFailure | None:
    """The trace's unresolved failure (the newest parked item not resolved or cancelled), if any. ``items``: the
    rows of ``parked_items(trace_id)``, if the caller has read them already."""
    if items is None:
        items = store.rows(ParkedItem, order_by=("-created_at",), trace_id=trace_id)
    for parked in items:
        outcome = latest_outcome(parked)
        if outcome is not None and outcome.outcome != ParkingOutcome.DEAD_LETTERED:
            continue
        entries = ErrorSinkEntry.objects.filter(
            trace_id=trace_id, pipeline=parked.pipeline, item_id=parked.item_id, branch=parked.branch
        ).order_by("-attempt")
        last = entries.first()
        message = last.message if last else ""
        # Held at a paused step (a dead letter's redrive too, as the dashboard counts it): that is why it waits,
        # whatever failed before, and another redrive is refused.
        held = open_hold(parked)
        if held is not None:
            message = f"{PAUSED}: {held.pause.reason}"
        return OpenFailure(
            parked=parked,
            error_class=last.error_class if last else "",
            message=message,
            attempts=entries.count(),
            dead_lettered=outcome is not None and held is None,
            held=held is not None,
            redrive_held=outcome is not None and held is not None,
        )
    return None


def open_hold(parked: ParkedItem) -> PausedItem | None:
    """The item's newest hold not released yet, if any (what the order view shows as the reason it waits)."""
    released = PauseRelease.objects.filter(hold=OuterRef("pk"))
    return (
        PausedItem.objects.filter(parked=parked)
        .filter(~Exists(released))
        .select_related("pause")
        .order_by("-created_at")
        .first()
    )
