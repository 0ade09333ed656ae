"""The application service every transport calls: search, and read a query's answer and lineage.

It holds the idempotency rules (the request's hash, the replay answer, the conflict) and turns the engine's
results into answers; transports parse and render. A failure after the query is stored is never an error here:
the answer says ``status: "STALLED"`` (a shard is being retried, or the query parked for ops).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pipelines import AlreadyExists, Detail, NotFound, StepStatus, Unavailable, backlog, current_engine, ids, storage
from search import commands, selectors, view


@dataclass(frozen=True)
class Answered:
    view: dict[str, Any]
    created: bool


def query_id_for(key: str) -> uuid.UUID:
    return ids.deterministic_id("search-query", key)


@storage.scoped
def search(data: object, key: str | None) -> Answered:
    key = commands.check_key(key)
    command = commands.canonical(data)
    digest = commands.command_hash(command)
    query_id = query_id_for(key)
    if selectors.query(query_id) is not None:
        return _replay(query_id, digest)
    backlog.admit("search")  # a new query: refused (nothing stored) while the backlog bound is reached
    payload = {**command, "requestKey": key, "commandHash": digest}
    first = current_engine().start("search", payload, key, new=True).first
    if first.status is StepStatus.INSERTED:
        return Answered(view.answer(query_id), created=True)
    if first.status in (StepStatus.REPLAYED, StepStatus.LOST):  # a concurrent duplicate got there first
        return _replay(query_id, digest)
    raise Unavailable("the query could not be recorded yet; retry with the same Idempotency-Key")


def _replay(query_id: uuid.UUID, digest: str) -> Answered:
    stored = selectors.query(query_id)
    assert stored is not None
    if stored.command_hash != digest:
        raise AlreadyExists(
            "this Idempotency-Key was already used with a different search",
            [Detail("Idempotency-Key", "reused with a different search")],
        )
    return Answered(view.answer(query_id), created=False)


def _query_id(value: object) -> uuid.UUID:
    try:
        query_id = uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"query {value} not found" if value != "" else "no query has an empty id")
    if selectors.query(query_id) is None:
        raise NotFound(f"query {value} not found")
    return query_id


@storage.scoped
def get_answer(query_id: object) -> dict[str, Any]:
    return view.answer(_query_id(query_id))
