"""Celery tasks: they resume parked work, sweep, and run the subscriber of a ``queue`` publication (one message
per hand-off, on the pipeline's own queue); they never build the synchronous chain.

Every task takes ids, is ``acks_late`` (a message is acknowledged after the task ran, so a worker that dies
mid-task gives it back) and idempotent through the engine's identity and the ledger's unique claims.

A task that carries work (an attempt, a resume, a queued hand-off) and finds the database unreachable
(``pipelines.transport.outage``) is run again by Celery's own retry, 1 s later, then 2, 4, ... up to 30 s apart,
for as long as the sweeper's claim timeout: the run again goes on with the claim it made before the database went
away, so the work goes on seconds after the database is back, not a claim timeout later (docs/operations.md,
"Crash matrix"). Past the claim timeout the sweeper's own recovery takes over. Beat's passes (sweep, release,
deadlines) are not retried: the next tick runs them again; nor is a pause's drain, which every sweep takes up.

The same three tasks are run again at once when the pool process running them dies (killed by the kernel's OOM
killer, say): the worker's main process sees the child gone and publishes the task again (Celery's
``retry_on_worker_lost``), at most ``WORKER_LOST_RUNS`` times for one task, so a message that kills every process
that runs it ends there (the sweeper then takes the work up). Either way the run again takes up the claim its task
made, on whichever host it lands. A message the broker delivers again (a worker's connection lost while the task
still runs) is not a run again: its first run may be alive, so it takes a claim over only once the claim's lock
(``pipelines.store.claim_locks``, PostgreSQL) says that run has ended, and never where there is no such lock.

A run of the same three that outlives ``TPFGO_WORK_TIME_LIMIT_SECONDS`` (the claim timeout unless set: a call that
never answers) is killed by Celery's pool, which starts a new process; its claim is a dead run's for the sweeper.
So is a pass of beat's on the timers' queue (sweep, release, deadlines): the next tick runs it again.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import socket
import uuid
from collections.abc import Iterator

import structlog
from celery import Task, shared_task
from django.conf import settings

from pipelines.engine import consuming, queues
from pipelines.recovery import deadlines, drain, retention, retries, sweeper
from pipelines.recovery import resume as recovery
from pipelines.store import clock, partitions
from pipelines.transport import outage

log = structlog.get_logger("pipelines.tasks")


OUTAGE_FIRST_DELAY = 1.0  # seconds before a task the database failed is run again; doubled each time
OUTAGE_MAX_DELAY = 30.0
WORKER_LOST_RUNS = 3  # runs again of a task whose pool process died (its outage runs again count too)


def outage_delay(retries: int) -> float:
    """How long a task waits before its run number ``retries + 1`` after a database outage."""
    return min(OUTAGE_MAX_DELAY, OUTAGE_FIRST_DELAY * float(2 ** min(retries, 16)))


def outage_retries_allowed() -> int:
    """How many times a task is run again through an outage: until the waits add up to the claim timeout."""
    budget = recovery.claim_timeout().total_seconds()
    runs, waited = 0, 0.0
    while waited < budget:
        waited += outage_delay(runs)
        runs += 1
    return runs


@contextlib.contextmanager
def through_outages(task: Task) -> Iterator[None]:
    """Run the block; if the database could not be reached, have Celery run the task again later."""
    try:
        yield
    except Exception as exc:
        retries = task.request.retries or 0
        allowed = outage_retries_allowed()
        if not outage.is_outage(exc) or task.request.called_directly or retries >= allowed:
            raise
        delay = outage_delay(retries)
        log.warning("task.database_unavailable", task=task.name, retries=retries, retry_in_s=delay, error=repr(exc))
        # The outage's own limit: Celery reads max_retries=None as the task's (WORKER_LOST_RUNS), not as none.
        raise task.retry(exc=exc, eta=due_in(delay), max_retries=allowed) from exc


def due_in(seconds: float) -> datetime.datetime:
    """The ETA of a message due ``seconds`` from now, on the database's clock as this node reckons it: a Celery
    countdown becomes this node's clock plus it, and the worker that takes the message compares it with its own, so
    a publisher whose clock is off would have it run early or late by its drift on every other worker."""
    return clock.reckoned() + datetime.timedelta(seconds=seconds)


def claimer(task: Task) -> str:
    """Who claims an attempt or a resume: ``<task id>@<host>`` (a task's runs again share its id, not its host), cut
    to the claims' 200 characters at the host's end."""
    host = socket.gethostname()
    return (f"{task.request.id}@{host}" if task.request.id else host)[:200]


def run_again(task: Task) -> bool:
    """Celery runs the task again (after an outage, or after its process died), so its earlier run is over and may
    have claimed the work already. Not so for a message the broker delivered again: its first run may go on."""
    delivery = task.request.delivery_info or {}
    return bool(task.request.retries) and not delivery.get("redelivered", False)


CARRIES_WORK = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,  # if publishing the run again fails, the message goes back to the queue
    "retry_on_worker_lost": True,
    "default_retry_delay": 0,  # the run again after a lost process: at once (outages give their own delay)
    "max_retries": WORKER_LOST_RUNS,
    "ignore_result": True,
    # Past the claim timeout the sweeper has taken the claim for lost; a hung process would hold a pool slot for good.
    "time_limit": float(getattr(settings, "TPFGO_WORK_TIME_LIMIT_SECONDS", 900)),
}

# Beat's passes on the timers' queue are bounded; one that hangs (waiting on a lock, a database that stopped answering)
# would hold a pool slot for good, the next ones the others, and the worker would sweep nothing more.
TIMERS_PASS = {"ignore_result": True, "time_limit": CARRIES_WORK["time_limit"]}


@shared_task(name="pipelines.retry_parked", **CARRIES_WORK)
def retry_parked(self: Task, parked_id: str, attempt: int) -> str:
    with through_outages(self):
        return retries.run_attempt(parked_id, attempt, worker=claimer(self), again=run_again(self))


# Celery's per-publish retry policy (``task_publish_retry_policy``, default 3 retries, each a new connection): one
# connection attempt for a retry's message, which a request sends while it waits. Its row is already durable and
# the sweeper re-enqueues it, so a broker outage costs the request one refused connection, not four.
PUBLISH_ONCE = {"max_retries": 0}


def enqueue_retry(parked_id: uuid.UUID, attempt: int, due: datetime.datetime) -> bool:
    """Hand a scheduled attempt to the broker; False when it refused. Losing this message is harmless: the sweeper
    re-enqueues it."""
    try:
        if not database_delivery():
            retry_parked.apply_async((str(parked_id), attempt), eta=due, retry_policy=PUBLISH_ONCE)
        elif due <= clock.reckoned():  # the database's clock, which ``due`` is: not this node's
            retry_parked.apply_async((str(parked_id), attempt), retry_policy=PUBLISH_ONCE)
        # else: the RetryScheduled row is the schedule; pipelines.release_due publishes it when due
    except Exception:  # the database row is the source of truth; the sweeper will find it
        log.exception("retry.enqueue_failed", parked_id=str(parked_id), attempt=attempt)
        return False
    return True


def database_delivery() -> bool:
    """Whether later work waits in the database, not in the broker (``TPFGO_DELAYED_DELIVERY``)."""
    return getattr(settings, "TPFGO_DELAYED_DELIVERY", "broker") == "database"


@shared_task(name="pipelines.release_due", **TIMERS_PASS)
def release_due() -> int:
    """Publish the retries and drain releases that fell due (``TPFGO_DELAYED_DELIVERY=database``): how many."""
    return sweeper.release_due()


@shared_task(name="pipelines.resume_trace", **CARRIES_WORK)
def resume_trace(self: Task, trace_id: str, seq: int) -> str:
    """Resume a stalled position the sweep sent. One this composition cannot read (a pipeline or checkpoint type it
    no longer has) fails the task, nothing recorded, and is counted as the sweep counts it in place."""
    worker = claimer(self)
    with through_outages(self):
        try:
            return recovery.resume(trace_id, seq, worker=worker, again=run_again(self))
        except sweeper.UNREADABLE_ERRORS as exc:
            sweeper.position_unreadable(trace_id, seq, exc, worker)
            raise


def enqueue_resume(trace_id: uuid.UUID, seq: int) -> bool:
    """Hand a stalled trace to a worker; False when the broker refused. Losing this message is harmless: the next
    sweep finds it again."""
    try:
        resume_trace.apply_async((str(trace_id), seq))
    except Exception:  # the checkpoint log is the source of truth; the next sweep will find it
        log.exception("recovery.enqueue_failed", trace_id=str(trace_id), seq=seq)
        return False
    return True


@shared_task(name="pipelines.hand_off", **CARRIES_WORK)
def hand_off(self: Task, pipeline: str, checkpoint_type: str, checkpoint_id: str, trace_id: str) -> str:
    """Run ``pipeline`` on a checkpoint of a queued publication (``pipelines.engine.queues``): a replay if it ran."""
    with through_outages(self):
        return consuming.consume(pipeline, checkpoint_type, checkpoint_id, trace_id)


def send_handoff(pipeline: str, checkpoint_type: str, checkpoint_id: str, trace_id: str) -> None:
    """Publish a hand-off on its pipeline's queue (raises when the broker does: ``queues.send`` logs it)."""
    hand_off.apply_async((pipeline, checkpoint_type, checkpoint_id, trace_id), queue=queues.queue_name(pipeline))


@shared_task(name="pipelines.drain_pause", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def drain_pause(pause_id: str) -> str:
    """Release a resumed pause's held items due within the next interval; again after it while any remain."""
    again = drain.run(pause_id)
    if again is not None:
        enqueue_drain(uuid.UUID(pause_id), again)
    return "draining" if again is not None else "drained"


def enqueue_drain(pause_id: uuid.UUID, countdown: float) -> None:
    """Losing this message is harmless: the sweeper drains every resumed pause with items still held."""
    if database_delivery():
        return  # pipelines.release_due drains resumed pauses on every pass
    try:
        drain_pause.apply_async((str(pause_id),), eta=due_in(countdown) if countdown > 0 else None)
    except Exception:  # the held items are rows; the sweeper will drain them
        log.exception("pause.enqueue_failed", pause_id=str(pause_id))


@shared_task(name="pipelines.sweep", **TIMERS_PASS)
def sweep() -> dict[str, int]:
    """Re-enqueue lost retries, reschedule lost attempts, resume stalled traces (``pipelines.recovery.sweeper``),
    once per time slot: the task first claims its slot (``SweepTick``) and sweeps nothing when it is taken."""
    tick = sweeper.claim_tick(f"{socket.gethostname()}:{os.getpid()}")
    if tick is None:
        return {"tick_taken": 1}
    return {"tick": tick, **sweeper.sweep().as_dict()}


@shared_task(name="pipelines.expire_waits", **TIMERS_PASS)
def expire_waits() -> int:
    """Fire every wait past its deadline (``pipelines.recovery.deadlines``): one bounded pass, idempotent."""
    return len(deadlines.expire())


@shared_task(name="pipelines.ensure_partitions", ignore_result=True)
def ensure_partitions() -> list[str]:
    """Create the coming months' partitions of the log and the lineage (PostgreSQL), as the purge role through the
    owner's function (``pipelines.store.partition_functions``)."""
    return partitions.ensure_ahead()


@shared_task(name="pipelines.purge", ignore_result=True)
def purge() -> dict[str, int]:
    """Remove what the retention policy let expire (``pipelines.recovery.retention``): bounded batches, each atomic
    and audited; a run cut short is taken up by the next one."""
    return {o.policy: o.items for o in retention.purge(actor="beat")}
