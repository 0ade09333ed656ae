"""What happens after a step failed and its transaction rolled back: one sink entry, then parking."""

from __future__ import annotations

import json
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from prometheus_client import Counter

from pipelines.contracts.errors import error_code, is_retryable
from pipelines.contracts.text import storable, storable_json
from pipelines.failures import parking, scrub, sinks
from pipelines.failures.parking import describe
from pipelines.models import MAIN_BRANCH
from pipelines.store import clock

if TYPE_CHECKING:
    from pipelines.contracts.declarations import Pipeline, Step
    from pipelines.contracts.steps import Item

# The failed runs of ``tpfgo_step_runs_total`` by their error code, so an alert tells a dependency or a defect from a
# business condition that has its own runbook row (NO_COURIER_AVAILABLE: TPFGoCourierShortage, docs/alerts.yml).
STEP_FAILURES = Counter(
    "tpfgo_step_failures_total",
    "Failed step runs per pipeline, step and error code (the error-sink entry's error_code).",
    ["code", "pipeline", "step"],
)


def record(
    spec: Pipeline,
    step: Step,
    item: Item,
    event: Mapping[str, Any] | None,
    attempt: int,
    exc: BaseException,
    *,
    failed_step: Step | None = None,
) -> None:
    failing = failed_step or step
    described = describe(item.value)
    hide = scrub.for_item(described[2], event)  # once: the sink entry and a dead letter's text alike
    entry = sink_entry(
        spec.name, failing.name, described, item.trace_id, event, attempt, exc, branch=item.branch, hide=hide
    )
    STEP_FAILURES.labels(entry.error_code, spec.name, failing.name).inc()
    sinks.record(entry)
    parking.park(spec, step, item, event, attempt, exc, hide=hide)


def sink_entry(
    pipeline: str,
    step: str,
    described: tuple[str, Any, Any],
    trace_id: Any,
    event: Mapping[str, Any] | None,
    attempt: int,
    exc: BaseException,
    *,
    branch: str = MAIN_BRANCH,
    hide: scrub.Scrub | None = None,
) -> sinks.SinkEntry:
    """The error-sink entry of a failed attempt (one per pipeline, step, item, attempt and lineage branch: its id is
    derived from them by ``parking.failure_id``, as a parked item's). ``described``: ``parking.describe``
    of the step's input (its type, id and payload). Its message and traceback are scrubbed by ``hide`` (the item's,
    ``scrub.for_item``, when not given) before anything sees them."""
    item_type, item_id, snapshot = described
    if hide is None:
        hide = scrub.for_item(snapshot, event)
    return sinks.SinkEntry(
        id=parking.failure_id("error-sink", pipeline, step, str(item_id), attempt, branch=branch),
        pipeline=pipeline,
        step=step,
        item_type=item_type,
        item_id=item_id,
        trace_id=trace_id,
        error_class=f"{type(exc).__module__}.{type(exc).__qualname__}",
        error_code=error_code(exc),
        retryable=is_retryable(exc),
        # A message may quote anything (a gateway's answer, bytes it could not decode): kept as text every database
        # stores, so that the entry is never lost to it.
        message=storable(hide(str(exc))[:2000]),
        traceback=storable(hide("".join(traceback.format_exception(exc)))),
        payload=storable_json(json.loads(json.dumps({"input": snapshot, "event": event}, cls=DjangoJSONEncoder))),
        attempt=attempt,
        created_at=clock.reckoned(),  # the database's, as retention and the sweeper read it
        branch=branch,
    )
