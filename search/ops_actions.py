"""What an ops action means for a query (the console's remediation, docs/lanes.md): redrive its dead-lettered
fan-out, once the shard that kept failing is back.

The same shape as the checkout domain's actions, so the console runs both the same way: ``preview`` says what
would be inserted and at which log position; ``execute`` refuses a stale preview, runs through the engine's
remediation machinery (``pipelines.actions``) and records who and why (``OpsAction``).
"""

from __future__ import annotations

import uuid
from typing import Any

from pipelines import Detail, FailedPrecondition, NotFound, actions, composition, last_attempt, open_failure
from search import selectors, view

ACTIONS = ("redrive",)
# What runs after a redriven step succeeds, by the pipeline it was parked in (the preview says it).
AFTER = {
    "search": "the query is then merged, ranked and published as usual",
    "ranking": "the answer is then published as usual",
}
# The analytics record's side pipeline (ranking+analytics): nothing runs after it.
AFTER_ANALYTICS = "the analytics record only: the query's answer was published already and is not touched"


def owns(trace_id: uuid.UUID) -> bool:
    """The trace is a query's (its root is a ``QueryReceived``)."""
    return selectors.query(trace_id) is not None


def _query_id(query_id: object) -> uuid.UUID:
    try:
        found = uuid.UUID(str(query_id))
    except ValueError:
        raise NotFound(f"query {query_id} not found")
    if selectors.query(found) is None:
        raise NotFound(f"query {query_id} not found")
    return found


def _why_not(query_id: uuid.UUID, action: str = "redrive") -> str | None:
    if action not in ACTIONS:
        return f"{action} is not an action for a query (a query can be redriven)"
    failure = open_failure(query_id)
    if failure is None:
        return "nothing is dead-lettered for this query"
    if not failure.dead_lettered:
        return actions.not_dead_lettered(failure)
    return None


def applicability(query_id: object) -> dict[str, str | None]:
    return {"redrive": _why_not(_query_id(query_id))}


def preview(action: str, query_id: object, **params: object) -> dict[str, Any]:
    found = _query_id(query_id)
    expected = actions.newest_seq(found)
    why = _why_not(found, action)
    inserts = []
    failure = open_failure(found)
    if why is None and failure is not None:
        parked = failure.parked
        attempt = last_attempt(parked) + 1
        step = composition().pipeline(parked.pipeline).step(parked.step)
        inserts = [
            {"type": "RetryScheduled", "summary": f"attempt {attempt} of {parked.pipeline}/{parked.step}, due now"},
            {"type": "RetryClaim", "summary": f"attempt {attempt}, run at once by this action"},
            {
                "type": " or ".join(m.__name__ for m in step.models),
                "summary": f"{parked.pipeline}/{parked.step} re-run from {parked.item_type} {parked.item_id}; "
                + AFTER.get(parked.pipeline, AFTER_ANALYTICS),
            },
            {"type": "ParkingOutcome", "summary": "resolved if it succeeds; a new failure parks it again"},
        ]
    return {
        "action": action,
        "queryId": str(found),
        "expectedSeq": expected,
        "inserts": inserts,
        "allowed": why is None,
        "why": why,
    }


def execute(
    action: str, query_id: object, *, actor: str, reason: str, expected_seq: int, **params: object
) -> dict[str, Any]:
    """Redrive the query's dead-lettered item if the query is still where the preview showed it; returns the
    query's answer after it (``state`` is its status, for the console's message)."""
    actor, reason = actions.check_who(actor, reason)
    found = _query_id(query_id)
    actions.check_fresh(found, expected_seq)
    why = _why_not(found, action)
    failure = open_failure(found)
    if why is not None or failure is None:
        raise FailedPrecondition(why or "not allowed", [Detail("action", "not allowed for the query now")])
    parked = failure.parked
    attempt = last_attempt(parked) + 1
    status = actions.redrive(parked, worker=f"ops:{actor}")
    result = {"parkedId": str(parked.pk), "attempt": attempt, "status": status}
    row = actions.record(
        action, found, actor=actor, reason=reason, preview_seq=int(expected_seq), result=result, target_id=parked.pk
    )
    answer = view.answer(found)
    return {
        **answer,
        "state": answer["status"],
        "stalled": answer["status"] == view.STALLED,
        "opsActionId": str(row.id),
    }
