"""Trace numbers: the integer under which a trace's log rows and lineage links are indexed.

A trace id is a deterministic hash, so an index that leads with it puts every row on a random page. The log
and the lineage are written at every step of every trace: with a random leading key, a batch step writes one
page of each index per item, and the pages are further apart the more history there is. So each trace gets a
number when its first checkpoint is written (``Trace``: numbers handed out in order), and the log and the lineage
are indexed by ``(trace_number, …)``: the traces of a batch, and the traces in flight, hold neighbouring numbers,
so their rows land on a few pages near the end of each index.

- ``stamps(trace_ids)`` gives the number and the creation time of each trace, creating the missing ones, in the
  caller's transaction (the step's): one statement per batch step for the unknown traces, none for those this read
  scope already knows. A stamp is remembered by the scope only once the transaction that found or created it has
  committed. ``numbers(trace_ids)`` is the same, numbers only.
- The creation time is the partition key of the log and the lineage on PostgreSQL (``pipelines.store.partitions``):
  it is the stored ``Trace.created_at``, read back for a trace that has one, so a replay (later, on another clock)
  writes the value the trace's first rows carry.
- ``CheckpointLog.objects.of_trace(trace_id)`` and ``LineageLink.objects.of_trace(trace_id)`` filter on the known
  number, or a sub-query on ``Trace`` (``pipelines.models.trace_number_expression``); this module tells the models
  which numbers the read scope knows.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from pipelines import models
from pipelines.models import Trace
from pipelines.models import as_trace_uuid as as_uuid
from pipelines.store import branches, clock, fast, lookups, reads
from pipelines.store.vendor import half

# Traces per statement when creating many (two bound values each; SQLite allows 32,766).
_CHUNK = 5000

Stamp = tuple[int, datetime.datetime]  # a trace's number and creation time, both fixed once stored


def known(trace_id: Any) -> int | None:
    """The trace's number if this read scope has seen it committed."""
    opened = reads.current()
    stamp = opened.traces.get(as_uuid(trace_id)) if opened is not None else None
    return stamp[0] if stamp is not None else None


def numbers(trace_ids: Iterable[Any], *, new: bool = False) -> dict[uuid.UUID, int]:
    """The number of every trace in ``trace_ids``, creating those that have none (``stamps``)."""
    return {t: stamp[0] for t, stamp in stamps(trace_ids, new=new).items()}


def stamps(trace_ids: Iterable[Any], *, new: bool = False) -> dict[uuid.UUID, Stamp]:
    """The number and creation time of every trace in ``trace_ids``, creating those that have none, in the
    caller's transaction.

    ``new``: the traces are most likely starting here (a source pipeline's first step), so they are inserted
    first and looked up only if already stored; otherwise looked up first.
    """
    opened, found, missing = _known_and_missing(trace_ids)  # in order: a batch's traces get consecutive numbers
    made: dict[uuid.UUID, Stamp] = {}
    if missing:
        if not new:
            made.update(_stored(missing))
        absent = [t for t in missing if t not in made]
        created: dict[uuid.UUID, Stamp] = {}
        if absent:
            created = _create(absent)
            made.update(created)
            absent = [t for t in absent if t not in made]
            if absent:  # stored before, or by a concurrent transaction since the look-up (committed now)
                made.update(_stored(absent))
        if opened is not None:
            transaction.on_commit(lambda: _committed(opened, made, created))
    found.update(made)
    lost = set(missing) - found.keys()
    if lost:
        raise RuntimeError(f"no trace number for {len(lost)} trace(s), e.g. {next(iter(lost))}")
    return found


def _committed(opened: reads.Scope, made: dict[uuid.UUID, Stamp], created: dict[uuid.UUID, Stamp]) -> None:
    opened.traces.update(made)
    if created:
        branches.started(opened, created)


def stored_numbers(trace_ids: Iterable[Any]) -> dict[uuid.UUID, int]:
    """The numbers of those of ``trace_ids`` that have one (known to the scope, or read in one query)."""
    _, found, missing = _known_and_missing(trace_ids)
    if missing:
        found.update(_stored(missing))
    return {t: stamp[0] for t, stamp in found.items()}


def _known_and_missing(
    trace_ids: Iterable[Any],
) -> tuple[reads.Scope | None, dict[uuid.UUID, Stamp], list[uuid.UUID]]:
    """The read scope, the stamps it knows, and the traces (distinct, in order) it does not."""
    opened = reads.current()
    cache = opened.traces if opened is not None else {}
    found: dict[uuid.UUID, Stamp] = {}
    missing: list[uuid.UUID] = []
    for trace_id in dict.fromkeys(t if type(t) is uuid.UUID else as_uuid(t) for t in trace_ids):
        stamp = cache.get(trace_id)
        if stamp is None:
            missing.append(trace_id)
        else:
            found[trace_id] = stamp
    return opened, found, missing


def _known_numbers(trace_ids: Iterable[Any]) -> tuple[dict[uuid.UUID, int], list[uuid.UUID]]:
    _, found, missing = _known_and_missing(trace_ids)
    return {t: stamp[0] for t, stamp in found.items()}, missing


models.use_known_trace_numbers(_known_numbers)


def _stored(trace_ids: list[uuid.UUID]) -> dict[uuid.UUID, Stamp]:
    out: dict[uuid.UUID, Stamp] = {}
    for start in range(0, len(trace_ids), _CHUNK):
        chunk = trace_ids[start : start + _CHUNK]
        stored = Trace.objects.filter(trace_id__in=chunk).values_list("trace_id", "number", "created_at")
        out.update((trace_id, (number, created)) for trace_id, number, created in stored)
    return out


def _create(trace_ids: list[uuid.UUID]) -> dict[uuid.UUID, Stamp]:
    """Insert the traces in the given order (consecutive numbers), skipping any a concurrent writer stored."""
    connection = transaction.get_connection()
    table = fast.table(Trace, connection)
    now = clock.reckoned()  # the database's, as its checkpoints' (pipelines.store.clock)
    out: dict[uuid.UUID, Stamp] = {}
    for start in range(0, len(trace_ids), _CHUNK):
        chunk = trace_ids[start : start + _CHUNK]
        rows = [
            table.prepare([{"trace_id": t, "created_at": now}[a] for a in table.attnames], connection) for t in chunk
        ]
        at = table.index("trace_id")
        by_prepared = {row[at]: t for row, t in zip(rows, chunk, strict=True)}
        sql = fast.values_sql(table, len(rows)) + " ON CONFLICT DO NOTHING RETURNING number, trace_id"
        # The store's statement (prepared on PostgreSQL).
        for number, stored in half(connection).fetch(connection, sql, [v for row in rows for v in row]):
            out[by_prepared.get(stored) or as_uuid(stored)] = (number, now)
    return out


def read_with(trace_id: Any, *queries: lookups.LookUp) -> tuple[list[list[Any]], bool] | None:
    """A request's first reads of a trace in one round trip (``lookups.rows_together``): its number, its forks and
    ``queries``. The read scope keeps the number and the forks (no further look-up of either this request); answers
    the rows of each query and whether the trace has forks. ``None``, nothing read: no read scope is open, or it
    holds the trace's forks already (its reads of the trace have begun)."""
    opened = reads.current()
    if opened is None:
        return None
    key = as_uuid(trace_id)
    if branches.known(opened, key):
        return None
    stored, forks, *found = lookups.rows_together((Trace, {"trace_id": key}, (), 1), branches.look_up(key), *queries)
    if stored:  # kept once committed, as ``number_of`` keeps it (a trace made in this transaction may roll back)
        stamp = {key: (int(stored[0].number), stored[0].created_at)}
        transaction.on_commit(lambda: opened.traces.update(stamp))
    branches.found(opened, key, forks)
    return found, bool(forks)


def number_of(trace_id: Any) -> int | None:
    """The trace's number, or ``None`` if it has none yet (no checkpoint written): known, or one look-up."""
    number = known(trace_id)
    if number is not None:
        return number
    stored = lookups.first(Trace, trace_id=as_uuid(trace_id))
    if stored is None:
        return None
    opened = reads.current()
    if opened is not None:
        found = {stored.trace_id: (int(stored.number), stored.created_at)}
        transaction.on_commit(lambda: opened.traces.update(found))
    return int(stored.number)
