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

Inside a relaxed run a step with an external effect takes its turn (``pg_advisory_lock`` on its output,
``pipelines/store/claim_locks.py``) without a round trip of its own: ``effect_turn`` queues the lock, and the session
sends it ahead of its next statement, in the same pipeline: the step's look-up, or the flush ``durable()`` makes
right before the effect; the lock is let go the same way, ahead of the statement after the step's row (or with the
run's last flush). A step that reached neither (it skipped, or waits) sends neither.

Outside a relaxed run (a run started inside an open transaction, ``TPFGO_ATOMICITY="pipeline"``, SQLite,
``TPFGO_DURABILITY="commit"``) every commit is synchronous, ``durable()`` does nothing and an effect's lock is taken
and let go in round trips of their own. What a crash costs at each point is in docs/architecture.md ("Durability at
the boundary").
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

# The flush: a one-row logical WAL message committed with synchronous_commit on, which flushes the WAL up to it; any
# role may call it, at any wal_level, and it writes nothing to a table. Inside a run it is
# one statement, so a transaction of its own in autocommit, or of the pipeline it is sent in: its commit (at the
# pipeline's end) is synchronous, the session stays asynchronous; at a run's end the session is made synchronous again.
_FLUSH_IN_RUN = (
    "SELECT set_config('synchronous_commit', 'on', true), pg_logical_emit_message(true, 'tpfgo.durable', '')"
)
_FLUSH_AND_END = (
    "SELECT set_config('synchronous_commit', 'on', false), pg_logical_emit_message(true, 'tpfgo.durable', '')"
)
_RELAX = "SELECT set_config('synchronous_commit', 'off', false)"
_LOCK = "SELECT pg_advisory_lock(%s)"
_UNLOCK = "SELECT pg_advisory_unlock(%s)"

Statement = tuple[str, tuple[object, ...]]
# Inside an open transaction nothing can commit: wait until the WAL writer has flushed what came before.
_INSERTED = "SELECT pg_current_wal_insert_lsn()"
_FLUSHED = "SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn"
_WAIT_STEP = 0.005
_WAIT_LIMIT = 30.0


class _State(threading.local):
    depth = 0  # nested engine runs on this thread
    relaxed = False  # the session commits asynchronously now, or will from the store's next statement (pending)
    pending: str | None = None  # the alias of the connection whose relax waits for the store's next statement
    ahead: tuple[Statement, ...] = ()  # effect locks taken and let go, waiting for the session's next statement
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
    except DatabaseError:  # the session's locks go with it
        _state.pending, _state.relaxed, _state.ahead = None, False, ()
        connection.close()


def riding() -> bool:
    """Whether an effect's lock may ride on the session's statements (``effect_turn``): inside a relaxed run."""
    return _state.depth > 0 and _state.relaxed


@contextlib.contextmanager
def effect_turn(lock: int) -> Iterator[None]:
    """Hold the effect's lock (``pg_advisory_lock``) from the session's next statement until the statement after the
    block: both ride ahead of statements the run sends anyway (``ahead_of``), the lock ahead of the step's look-up or
    of the flush before its effect, its release ahead of the statement after its row or with the run's last flush.
    A block that sent nothing (its step skipped or waits, its look-up answered from memory) takes no lock at all."""
    taken = (_LOCK, (lock,))
    _state.ahead = (*_state.ahead, taken)
    try:
        with transaction.get_connection().execute_wrapper(_sending_ahead):
            yield
    finally:
        queued = _state.ahead
        if any(statement is taken for statement in queued):
            _state.ahead = tuple(statement for statement in queued if statement is not taken)
        else:
            _state.ahead = (*queued, (_UNLOCK, (lock,)))


def _sending_ahead(execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    """Whatever the step's run sends first through Django's cursors (its look-up, a read of its ``process()``)
    carries the waiting lock, in the same pipeline: its runs take turns from their first statement, as with a lock
    taken on its own."""
    connection = context["connection"]
    before = ahead_of(connection.alias)
    if not before:
        return execute(sql, params, many, context)
    with connection.wrap_database_errors, sending(connection.connection, before):
        return execute(sql, params, many, context)


def ahead_of(alias: str) -> tuple[Statement, ...]:
    """What the session of ``alias`` sends ahead of its next statement, in the same pipeline (once): the relax a run
    is waiting to send, and the effect locks taken and let go since its last statement."""
    if alias != DEFAULT_DB_ALIAS:
        return ()
    statements = _state.ahead
    _state.ahead = ()
    if _state.pending == alias:
        _state.pending = None
        statements = ((_RELAX, ()), *statements)
    return statements


@contextlib.contextmanager
def sending(raw: Any, statements: tuple[Statement, ...]) -> Iterator[None]:
    """The statements (results discarded), then what the block sends, in one round trip: psycopg's pipeline mode,
    or the pipeline the session is in already (``read_together``'s), where one of its own would end in a round trip
    of its own."""
    with contextlib.nullcontext() if raw.pgconn.pipeline_status else raw.pipeline():
        for sql, params in statements:
            raw.execute(sql, params or None)
        yield


def send(raw: Any, statements: tuple[Statement, ...]) -> None:
    """The statements, in one round trip, results discarded."""
    if len(statements) == 1:
        raw.execute(statements[0][0], statements[0][1] or None)
        return
    with sending(raw, statements):
        pass


def durable() -> None:
    """Everything this thread committed is durable when this returns. Call it right before anything leaves the
    process; it also takes the turn of the step whose effect that is (``effect_turn``). Nothing to do outside a
    relaxed run, or while its relax was not sent (every commit was synchronous)."""
    if not _state.relaxed:
        return
    connection = transaction.get_connection()
    if _state.pending is not None:
        _send_ahead(connection)
        if not _state.depth:
            _state.pending, _state.relaxed = None, False
        return
    if connection.in_atomic_block:
        _send_ahead(connection)
        _await_flush(connection)
    else:  # in a run, the session stays asynchronous; at its end it is made synchronous again
        _send_ahead(connection, _FLUSH_IN_RUN if _state.depth else _FLUSH_AND_END)
        if not _state.depth:
            _state.relaxed = False
    _state.flushes += 1


def _send_ahead(connection: BaseDatabaseWrapper, last: str | None = None) -> None:
    """The effect locks waiting for the session's next statement, then ``last``: a transaction of their own each,
    past a step's read-only guard, in one round trip."""
    statements = _state.ahead + (((last, ()),) if last else ())
    _state.ahead = ()
    if statements:
        connection.ensure_connection()
        with connection.wrap_database_errors:
            send(connection.connection, statements)


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
