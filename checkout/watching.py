"""Watching one order: its stored checkpoints, then each new one as it commits, until a terminal state.

Read from the checkpoint log (``pipelines.store.observers.watch_trace``), so it works whichever process committed the
checkpoint. Each entry carries the order's derived state once that checkpoint was committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings

from checkout import selectors, services, state
from checkout.services import parse_id
from pipelines import Admission, WireError, admission, watch_trace, wire

STREAM = "watch"


def gate() -> Admission:
    return admission(STREAM, int(getattr(settings, "TPFGO_WATCH_MAX_STREAMS", 4)))


def admit() -> Any:
    """A ticket for one more watch in this process, or RESOURCE_EXHAUSTED with a retry delay."""
    ticket = gate().try_enter()
    if ticket is None:
        raise WireError(
            "RESOURCE_EXHAUSTED",
            f"this process already serves {gate().capacity} order watches; retry later",
            retry_after=float(getattr(settings, "TPFGO_INGEST_RETRY_AFTER", 1)),
        )
    return ticket


def watch_order(
    order_id: object, *, active: Callable[[], bool] = lambda: True, authenticated: Callable[[], None] = lambda: None
) -> Iterator[dict[str, Any]]:
    """``{type, id, pipeline, createdAt, state}`` per checkpoint, in log order; ends after a terminal state.

    ``authenticated`` (the transport's check of the caller's token) is asked before each read of the log and raises
    to end the watch: an order may wait a day for a decision, and a token revoked meanwhile learns nothing more."""
    request = selectors.order_request(parse_id(order_id, "order"))
    if request is None:
        raise services.missing_order(order_id)

    def still_watched() -> bool:
        authenticated()
        return active()

    present: set[str] = set()
    for entry in watch_trace(request.order_id, active=still_watched):
        present.add(entry.checkpoint_type)
        label = state.label(request.order_id, present)
        yield {
            "type": entry.checkpoint_type,
            "id": str(entry.checkpoint_id),
            "pipeline": entry.pipeline,
            "createdAt": wire(entry.created_at),
            "state": label,
        }
        if label in state.TERMINAL_LABELS:
            return
