"""Durable at the boundary (PostgreSQL, ``TPFGO_DURABILITY="boundary"``): a step's commit waits for no disk.

On PostgreSQL a commit with ``synchronous_commit = on`` flushes the write-ahead log up to its own commit record,
and so every commit before it, of any session. A step whose loss a replay redoes (deterministic ids, idempotent
inserts: the sweeper resumes the trace from its last stored checkpoint) may therefore commit asynchronously, as
long as nothing that depends on it has left the process. Inside one engine run (``relaxed``, the engine's loop:
a request's synchronous chain, a worker's retry or resume) the session's commits are asynchronous, and
``durable()`` makes everything committed so far durable before something leaves the process:

- the engine's loop calls it when it ends, before the caller answers (a web request) or acknowledges (a task);
- a domain calls it right before an external effect (``storage.durable()`` in ``checkout/payments.py`` before
  every gateway call); the effect's own step commits asynchronously like the others: if a crash loses it, the
  replay asks the gateway again with the same idempotency key;
- a publication (a Celery message, a queue) calls it right before it publishes (``pipelines/failures/parking.py``).

Outside a relaxed run (a run started inside an open transaction, ``TPFGO_ATOMICITY="pipeline"``, SQLite,
``TPFGO_DURABILITY="commit"``) every commit is synchronous and ``durable()`` does nothing. What a crash costs at
each point is in docs/architecture.md ("Durability at the boundary").
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

# The flush: a one-row logical WAL message committed with synchronous_commit on, which flushes the WAL up to it; any
# role may call it, at any wal_level, and it writes nothing to a table. Inside a run the session stays asynchronous
# (one round trip, a transaction block of its own); at a run's end the session is made synchronous again.
_FLUSH_IN_RUN = (
    "BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_logical_emit_message(true, 'tpfgo.durable', ''); COMMIT"
)
_FLUSH_AND_END = (
    "SELECT set_config('synchronous_commit', 'on', false), pg_logical_emit_message(true, 'tpfgo.durable', '')"
)
_RELAX = "SELECT set_config('synchronous_commit', 'off', false)"
# Inside an open transaction nothing can commit: wait until the WAL writer has flushed what came before.
_INSERTED = "SELECT pg_current_wal_insert_lsn()"
_FLUSHED = "SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn"
_WAIT_STEP = 0.005
_WAIT_LIMIT = 30.0


class _State(threading.local):
    depth = 0  # nested engine runs on this thread
    relaxed = False  # the session commits asynchronously now, or will from the store's next statement (pending)
    pending: str | None = None  # the alias of the connection whose relax waits for the store's next statement
    flushes = 0  # durable() calls that reached the database (a counter for tests and the bench)


_state = _State()


def flushes() -> int:
    """How many times this thread made its commits durable (``durable()`` calls that reached the database)."""
    return _state.flushes


def _applies(connection: BaseDatabaseWrapper) -> bool:
    return (
        connection.vendor == "postgresql"
        and getattr(settings, "TPFGO_DURABILITY", "commit") == "boundary"
        and getattr(settings, "TPFGO_ATOMICITY", "step") == "step"
        and not connection.in_atomic_block
    )


@contextlib.contextmanager
def relaxed() -> Iterator[None]:
    """One engine run: its commits are asynchronous, and all of them are durable when it ends (or it raises)."""
    if _state.depth:
        _state.depth += 1
        try:
            yield
        finally:
            _state.depth -= 1
        return
    connection = transaction.get_connection()
    if not _applies(connection):
        yield
        return
    _state.depth = 1
    try:
        if not _state.relaxed:
            # No round trip of its own: the store's next statement on this connection sends it first, in the same
            # pipeline (``pipelines/store/postgres.py``). Until then every commit is still synchronous.
            _state.pending = connection.alias
            _state.relaxed = True
        yield
    except BaseException:
        _state.depth = 0
        _settle(connection)
        raise
    _state.depth = 0
    durable()


def _settle(connection: BaseDatabaseWrapper) -> None:
    """The run failed: flush what it committed; if the database cannot be reached, drop the connection (a new
    session commits synchronously) and let the run's own error be the answer."""
    try:
        durable()
    except DatabaseError:
        _state.pending, _state.relaxed = None, False
        connection.close()


def relax_to_send(alias: str) -> str | None:
    """The statement that relaxes this connection's session, if a run is waiting to send it (once): the store
    sends it ahead of its next statement, in one round trip."""
    if _state.pending != alias:
        return None
    _state.pending = None
    return _RELAX


def durable() -> None:
    """Everything this thread committed is durable when this returns. Call it right before anything leaves the
    process. Nothing to do outside a relaxed run, or while its relax was not sent (every commit was synchronous)."""
    if not _state.relaxed:
        return
    if _state.pending is not None:
        if not _state.depth:
            _state.pending, _state.relaxed = None, False
        return
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        _await_flush(connection)
    elif _state.depth:
        connection.ensure_connection()
        with connection.wrap_database_errors:  # a transaction block of its own: past a step's read-only guard
            connection.connection.execute(_FLUSH_IN_RUN)
    else:
        with connection.cursor() as cursor:
            cursor.execute(_FLUSH_AND_END)
        _state.relaxed = False
    _state.flushes += 1


def _await_flush(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_INSERTED)
        lsn = cursor.fetchone()[0]
        deadline = time.monotonic() + _WAIT_LIMIT
        while True:
            cursor.execute(_FLUSHED, [lsn])
            if cursor.fetchone()[0]:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the WAL was not flushed to {lsn} within {_WAIT_LIMIT:.0f} s")
            time.sleep(_WAIT_STEP)
