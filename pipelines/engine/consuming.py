"""The worker's side of a queued hand-off (``pipelines.engine.queues``): run the subscriber pipeline on the
checkpoint a message names, then close the hand-off.

Two copies of one hand-off (a broker's redelivery, the sweeper's resend behind a backlog, a replay upstream that
handed it off again) run one after the other on PostgreSQL: each holds the hand-off's lock
(``claim_locks.in_turn``) while it runs and closes it, so the later one finds it closed. The engine's own lock on a
step with an external effect does the same for one step, but only with per-step transactions; with
``TPFGO_ATOMICITY=pipeline`` both copies called the gateway.

A copy whose hand-off is closed already runs nothing (``duplicate``): its pipeline ran, and a replay of it would
only hand every later queued pipeline of the chain its checkpoint again, one more message and task run each. A
message whose row was never written (``handoff.record_failed``) is such a copy too; the sweeper's partial-progress
pass hands that checkpoint off again (``queues.resend``).
"""

from __future__ import annotations

import contextlib
import uuid

import structlog
from django.db import connection

from pipelines.engine import queues
from pipelines.engine.registry import checkpoint_models, engine
from pipelines.store import claim_locks

log = structlog.get_logger("pipelines.queues")


def consume(pipeline: str, checkpoint_type: str, checkpoint_id: str, trace_id: str) -> str:
    """Run ``pipeline`` on the checkpoint a message names (the worker's side), then close its hand-off. A step failure
    is parked by the engine as anywhere else; an exception here leaves the hand-off pending for the sweeper."""
    model = checkpoint_models().get(checkpoint_type)
    checkpoint = model.objects.filter(pk=checkpoint_id).first() if model is not None else None
    if checkpoint is None:  # purged, or a type the composition no longer writes: nothing to run
        log.warning("handoff.missing", pipeline=pipeline, checkpoint_type=checkpoint_type, checkpoint_id=checkpoint_id)
        status = "missing"
        queues.consumed(checkpoint_id, pipeline)
    else:
        with _one_copy_at_a_time(checkpoint_id, pipeline):
            if not queues.pending(checkpoint_id, pipeline):
                log.info("handoff.duplicate", pipeline=pipeline, checkpoint_id=checkpoint_id, trace_id=trace_id)
                return "duplicate"
            status = engine().deliver(pipeline, checkpoint).first.status.value
            queues.consumed(checkpoint_id, pipeline)
    log.info("handoff.consumed", pipeline=pipeline, checkpoint_id=checkpoint_id, trace_id=trace_id, status=status)
    return status


def _one_copy_at_a_time(checkpoint_id: str, pipeline: str) -> contextlib.AbstractContextManager[None]:
    """The hand-off's lock on PostgreSQL. Not on SQLite, whose waiting locks are shared files: a copy consumed in
    place (``TPFGO_HANDOFF_SEND`` empty) inside another's run could wait on its own process there."""
    if connection.vendor != "postgresql":
        return contextlib.nullcontext()
    return claim_locks.in_turn("handoff", queues.handoff_id(uuid.UUID(checkpoint_id), pipeline))
