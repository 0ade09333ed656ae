"""Celery tasks: they resume parked work, sweep, and run the subscriber of a ``queue`` publication (one message
per hand-off, on the pipeline's own queue); they never build the synchronous chain.

Every task takes ids, is ``acks_late`` (a message is acknowledged after the task ran, so a worker that dies
mid-task gives it back) and idempotent through the engine's identity and the ledger's unique claims.
"""

from __future__ import annotations

import datetime
import os
import socket
import uuid

import structlog
from celery import shared_task

from pipelines.engine import queues
from pipelines.recovery import deadlines, drain, retention, retries, sweeper
from pipelines.recovery import resume as recovery
from pipelines.store import partitions

log = structlog.get_logger("pipelines.tasks")


@shared_task(name="pipelines.retry_parked", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def retry_parked(parked_id: str, attempt: int) -> str:
    return retries.run_attempt(parked_id, attempt, worker=socket.gethostname())


def enqueue_retry(parked_id: uuid.UUID, attempt: int, due: datetime.datetime) -> None:
    """Hand a scheduled attempt to the broker. Losing this message is harmless: the sweeper re-enqueues it."""
    try:
        retry_parked.apply_async((str(parked_id), attempt), eta=due)
    except Exception:  # the database row is the source of truth; the sweeper will find it
        log.exception("retry.enqueue_failed", parked_id=str(parked_id), attempt=attempt)


@shared_task(name="pipelines.resume_trace", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def resume_trace(trace_id: str, seq: int) -> str:
    return recovery.resume(trace_id, seq, worker=socket.gethostname())


def enqueue_resume(trace_id: uuid.UUID, seq: int) -> None:
    """Hand a stalled trace to a worker. Losing this message is harmless: the next sweep finds it again."""
    try:
        resume_trace.apply_async((str(trace_id), seq))
    except Exception:  # the checkpoint log is the source of truth; the next sweep will find it
        log.exception("recovery.enqueue_failed", trace_id=str(trace_id), seq=seq)


@shared_task(name="pipelines.hand_off", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def hand_off(pipeline: str, checkpoint_type: str, checkpoint_id: str, trace_id: str) -> str:
    """Run ``pipeline`` on a checkpoint of a queued publication (``pipelines.engine.queues``): a replay if it ran."""
    return queues.consume(pipeline, checkpoint_type, checkpoint_id, trace_id)


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
    try:
        drain_pause.apply_async((str(pause_id),), countdown=countdown)
    except Exception:  # the held items are rows; the sweeper will drain them
        log.exception("pause.enqueue_failed", pause_id=str(pause_id))


@shared_task(name="pipelines.sweep", ignore_result=True)
def sweep() -> dict[str, int]:
    """Re-enqueue lost retries, reschedule lost attempts, resume stalled traces (``pipelines.recovery.sweeper``),
    once per time slot: the task first claims its slot (``SweepTick``) and sweeps nothing when it is taken."""
    tick = sweeper.claim_tick(f"{socket.gethostname()}:{os.getpid()}")
    if tick is None:
        return {"tick_taken": 1}
    return {"tick": tick, **sweeper.sweep().as_dict()}


@shared_task(name="pipelines.expire_waits", ignore_result=True)
def expire_waits() -> int:
    """Fire every wait past its deadline (``pipelines.recovery.deadlines``): one bounded pass, idempotent."""
    return len(deadlines.expire())


@shared_task(name="pipelines.ensure_partitions", ignore_result=True)
def ensure_partitions() -> list[str]:
    """Create the coming months' partitions of the log and the lineage (PostgreSQL), as the owner role."""
    return partitions.ensure_ahead()


@shared_task(name="pipelines.purge", ignore_result=True)
def purge() -> dict[str, int]:
    """Remove what the retention policy let expire (``pipelines.recovery.retention``): bounded batches, each atomic
    and audited; a run cut short is taken up by the next one."""
    return {o.policy: o.items for o in retention.purge(actor="beat")}
