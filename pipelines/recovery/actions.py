"""Generic remediation machinery: the stale-preview guard, redrive, and the ``OpsAction`` audit row.

A domain (``checkout.ops_actions``) decides what an action means and which pipeline it runs; this module knows
nothing of orders. Every action is previewed first; the preview carries the trace's newest checkpoint-log
position, and executing it fails closed (``FailedPrecondition``) when the trace moved on since.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import structlog

from pipelines.contracts.status import Detail, FailedPrecondition, InvalidArgument
from pipelines.contracts.steps import Execution
from pipelines.contracts.text import NOT_TEXT
from pipelines.engine import pauses
from pipelines.engine.registry import composition
from pipelines.failures import parking
from pipelines.models import CheckpointLog, OpsAction, ParkedItem, StepPause
from pipelines.recovery import resume, retries
from pipelines.store import claim_locks, clock

log = structlog.get_logger("pipelines.remediation")


def newest_seq(trace_id: uuid.UUID) -> int:
    """The trace's newest checkpoint-log position (0 when it has none): what a preview showed."""
    seq = CheckpointLog.objects.of_trace(trace_id).order_by("-seq").values_list("seq", flat=True).first()
    return int(seq or 0)


def check_fresh(trace_id: uuid.UUID, expected_seq: Any) -> None:
    """Refuse to act on a stale preview: the trace has a checkpoint the preview did not show."""
    try:
        expected = int(expected_seq)
    except (TypeError, ValueError):
        raise InvalidArgument("expected_seq must be the preview's expectedSeq", [Detail("expectedSeq", "malformed")])
    newest = newest_seq(trace_id)
    if newest != expected:
        raise FailedPrecondition(
            f"the trace changed since the preview (newest checkpoint {newest}, preview showed {expected})"
            f"{_meanwhile(trace_id, expected)}; preview again",
            [Detail("expectedSeq", "stale")],
        )


def _meanwhile(trace_id: uuid.UUID, expected: int) -> str:
    """The ops actions taken on a state at least as new as the stale preview's (another operator's, a bulk run's),
    so whoever is refused learns who acted, not only that the trace moved."""
    taken = OpsAction.objects.filter(trace_id=trace_id, preview_seq__gte=expected).order_by("created_at")[:3]
    said = [f"{a.action} by {a.actor} at {a.created_at:%Y-%m-%d %H:%M:%S} UTC (ops action {a.pk})" for a in taken]
    return f"; meanwhile: {', '.join(said)}" if said else ""


@contextlib.contextmanager
def exclusively(trace_id: uuid.UUID) -> Iterator[None]:
    """One ops action on a trace at a time (hold it from ``check_fresh`` to ``record``): a second confirm of the
    same preview, sent while the first runs, would pass the stale check before the first inserted anything and run
    the action twice. It is refused instead, storing nothing; sent after the first, the stale check refuses it."""
    with claim_locks.exclusive("ops-action", trace_id) as alone:
        if not alone:
            raise FailedPrecondition(
                "another ops action on this trace is running; preview again once it has ended",
                [Detail("expectedSeq", "another action is running")],
            )
        yield


@contextlib.contextmanager
def in_turn(trace_id: uuid.UUID) -> Iterator[None]:
    """One decision on a trace at a time, the later one waiting its turn (``claim_locks.in_turn``, on every
    process and node): for a step whose external effect comes before its decision is stored, such as a payment
    review's capture, so that the later one finds the first stored instead of acting beside it."""
    with claim_locks.in_turn("decision", trace_id):
        yield


MAX_ACTOR = 150  # OpsAction.actor, BulkRun.actor, StepPause.actor, StepResume.actor
MAX_REASON = 2000  # the longest reason an action records (the console's forms take as much)
# The flags that give ``check_who``'s fields on every command that runs an action (``ServiceError.summary_naming``).
WHO_FLAGS = {"actor": "--actor", "reason": "--reason"}


def check_who(actor: object, reason: object) -> tuple[str, str]:
    """Every action says who ran it and why, in text an audit row can hold."""
    details = []
    if not isinstance(actor, str) or not actor.strip():
        details.append(Detail("actor", "is required"))
    elif NOT_TEXT.search(actor):
        details.append(Detail("actor", "must not contain control characters"))
    elif len(actor.strip()) > MAX_ACTOR:  # the audit rows' column: it was cut to fit, silently
        details.append(Detail("actor", f"at most {MAX_ACTOR} characters"))
    if not isinstance(reason, str) or not reason.strip():
        details.append(Detail("reason", "is required"))
    elif NOT_TEXT.search(reason):
        details.append(Detail("reason", "must not contain control characters"))
    elif len(reason.strip()) > MAX_REASON:
        details.append(Detail("reason", f"at most {MAX_REASON} characters"))
    if details:
        raise InvalidArgument("a remediation needs who runs it (actor) and why (reason)", details)
    return str(actor).strip(), str(reason).strip()


def not_dead_lettered(failure: parking.OpenFailure) -> str:
    """Why a redrive does not apply to an open failure that waits for no remediation: it is retrying, or a pause
    holds it (a dead letter's earlier redrive included)."""
    where = f"{failure.parked.pipeline}/{failure.parked.step}"
    if failure.redrive_held:  # an earlier redrive reached the paused step: one attempt already waits for the resume
        why = failure.message.removeprefix(f"{parking.PAUSED}: ")
        return f"a redrive of {where} is already held by a paused step ({why}): it runs once resumed"
    if failure.held:
        return f"{where} is held by a paused step; it is not dead-lettered (it runs once the step is resumed)"
    return f"{where} is still being retried; it is not dead-lettered"


def redrive(parked: ParkedItem, worker: str = "ops") -> str:
    """Re-run a parked item from its last checkpoint now: schedule the next attempt and run it here.

    The attempt is sent to no worker: one that took the message first ran the attempt while the action reported
    ``claimed-elsewhere`` (and a bulk run counted the order done, whatever the worker's run did). It is due a grace
    period from now, so that beat's release of due retries (``TPFGO_DELAYED_DELIVERY=database``) does not send it
    before this run claims it either; should this process die first, the release or the sweeper sends it then."""
    attempt = parking.last_attempt(parked) + 1
    now = clock.now()  # the database's, as every attempt's times: the sweeper compares them with that clock
    parking.schedule(parked, attempt, now + resume.grace(), now, send=False)
    return retries.run_attempt(parked.pk, attempt, worker=worker)


def pause_holding(parked: ParkedItem) -> StepPause | None:
    """The active pause that would hold a redrive of this item at its step (its attempt then waits, unclaimed, for
    the resume's drain instead of running), if any. Read from the rows (one query; the input is loaded only for a
    pause keyed by value), not from the process's cache of the pauses, whose reload every few seconds would make
    a page's reads vary."""
    return pauses.holding_pause(composition(), parked.pipeline, parked.step, lambda: retries.load_value(parked))


def summarize(*executions: Execution) -> dict[str, Any]:
    """What the engine did, for the audit row: each step's status and the checkpoints it inserted."""
    steps = []
    inserted = []
    for execution in executions:
        for result in execution.results:
            steps.append({"pipeline": result.pipeline, "step": result.step, "status": result.status})
        inserted += [{"type": type(cp).__name__, "id": str(cp.pk)} for cp in execution.inserted()]
    return {"steps": steps, "inserted": inserted}


def record(
    action: str,
    trace_id: uuid.UUID,
    *,
    actor: str,
    reason: str,
    preview_seq: int | None,
    result: dict[str, Any],
    target_id: uuid.UUID | None = None,
    action_id: uuid.UUID | None = None,
) -> OpsAction:
    """The insert-only audit row: who ran which action on which trace, why, when and what it did.

    With ``action_id`` (a bulk run's deterministic id for this trace) a second record of the same action finds
    the first one and inserts nothing."""
    row = OpsAction(
        id=action_id or uuid.uuid4(),
        action=action,
        trace_id=trace_id,
        target_id=target_id,
        actor=actor,
        reason=reason,
        preview_seq=preview_seq,
        result=result,
        created_at=clock.reckoned(),
    )
    if action_id is not None:
        OpsAction.objects.bulk_create([row], ignore_conflicts=True)
        return OpsAction.objects.get(pk=action_id)
    row.save()
    log.warning("ops.action", action=action, trace_id=str(trace_id), actor=actor, ops_action_id=str(row.id))
    return row
