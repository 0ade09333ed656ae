"""The worker's side of a queued hand-off (``pipelines.engine.queues``): run the subscriber pipeline on the
checkpoint a message names, then close the hand-off.
"""

from __future__ import annotations

import structlog

from pipelines.engine import queues
from pipelines.engine.registry import checkpoint_models, engine

log = structlog.get_logger("pipelines.queues")


def consume(pipeline: str, checkpoint_type: str, checkpoint_id: str, trace_id: str) -> str:
    """Run ``pipeline`` on the checkpoint a message names (the worker's side), then close its hand-off. A step failure
    is parked by the engine as anywhere else; an exception here leaves the hand-off pending for the sweeper."""
    model = checkpoint_models().get(checkpoint_type)
    checkpoint = model.objects.filter(pk=checkpoint_id).first() if model is not None else None
    if checkpoint is None:  # purged, or a type the composition no longer writes: nothing to run
        log.warning("handoff.missing", pipeline=pipeline, checkpoint_type=checkpoint_type, checkpoint_id=checkpoint_id)
        status = "missing"
    else:
        status = engine().deliver(pipeline, checkpoint).first.status.value
    queues.consumed(checkpoint_id, pipeline)
    log.info("handoff.consumed", pipeline=pipeline, checkpoint_id=checkpoint_id, trace_id=trace_id, status=status)
    return status
