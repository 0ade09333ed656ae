"""Whether the run that made a claim is still at its work: a PostgreSQL session advisory lock held while it works.

A claim (``RetryClaim`` for a parked item's attempt, ``Resumption`` for a stalled position) is a unique insert: it
says who took the work, not whether that one is still at it. So a run takes the work's lock before it claims and
holds it until it ends. PostgreSQL lets go of a session's locks when the session ends, and so when its process dies:
the kernel closes the socket of a killed process at once; a host lost altogether is noticed after the server's TCP
keepalives (``tcp_keepalives_idle``, docs/operations.md, "Claim locks: is the run still at it?"). Whoever gets the
lock knows that the claim's run has ended, finished or dead: the retries and the resumes then take such a claim
over, and the sweeper schedules the next attempt or resume once the claim is ``TPFGO_SWEEP_ORPHAN_SECONDS`` old,
instead of after the claim timeout.

SQLite has no such lock (one machine, ``make run``): there ``working_on`` answers None, and the claim timeout alone
decides, as it always did. So it does with ``TPFGO_CLAIM_LOCKS=0``, for a connection pooler in transaction mode
(PgBouncer's ``pool_mode = transaction``), where a session's lock may sit on another client's server connection.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from pipelines.store import durability


def key(kind: str, *parts: object) -> int:
    """The lock's 64-bit key for one piece of work (``attempt``: parked item and attempt; ``position``: trace and
    seq). A collision with another key only makes a run wait for the claim timeout, as without the lock."""
    text = ":".join(["tpfgo-claim", kind, *map(str, parts)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


@contextlib.contextmanager
def working_on(kind: str, *parts: object) -> Iterator[bool | None]:
    """Hold the work's lock while the block runs. True: this session got it, so no other run is at the work (one
    that claimed it has ended); False: another session holds it, a run still at the work; None: this database has
    no such lock."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql" or not getattr(settings, "TPFGO_CLAIM_LOCKS", True):
        yield None
        return
    lock = key(kind, *parts)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock])
        got = bool(cursor.fetchone()[0])
    try:
        yield got
    finally:
        if got:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [lock])
            except DatabaseError:  # the session is gone, and its locks went with it
                pass


@contextlib.contextmanager
def exclusive(kind: str, *parts: object) -> Iterator[bool]:
    """Hold the work's lock while the block runs, so that no other session, process or node does the same work at
    once: True when this one got it, False when another holds it now. PostgreSQL: the session advisory lock of
    ``key``; SQLite (one machine): an advisory file lock beside the database file, one of ``_BUCKETS`` files by the
    key (two works meeting in one file only make the second wait its turn). With ``TPFGO_CLAIM_LOCKS=0`` (a pooler
    in transaction mode) every block gets True: nothing guards it."""
    connection = connections[DEFAULT_DB_ALIAS]
    if not getattr(settings, "TPFGO_CLAIM_LOCKS", True):
        yield True
        return
    if connection.vendor == "postgresql":
        with working_on(kind, *parts) as alone:
            yield bool(alone)
        return
    path = _lock_file(str(connection.settings_dict["NAME"]), key(kind, *parts) % _BUCKETS)
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def in_turn(kind: str, *parts: object, riding: bool = False) -> Iterator[None]:
    """Hold the work's lock while the block runs, waiting while another session holds it: ``exclusive``'s lock,
    for work that must not be refused but done one after the other. PostgreSQL: ``pg_advisory_lock`` (the session's;
    let go when the block ends or the session does); SQLite: the same file lock, blocking. With
    ``TPFGO_CLAIM_LOCKS=0`` nothing is held (a pooler in transaction mode could leave a session lock on another
    client's server connection).

    ``riding``: inside a relaxed run (``durability.riding``) the lock and its release ride ahead of the session's
    statements instead of taking round trips of their own (``durability.effect_turn``): for a step with an external
    effect, whose run sends a statement (its look-up, or the flush before its effect) before anything needs the
    lock."""
    connection = connections[DEFAULT_DB_ALIAS]
    if not getattr(settings, "TPFGO_CLAIM_LOCKS", True):
        yield
        return
    if connection.vendor == "postgresql":
        lock = key(kind, *parts)
        if riding and durability.riding():
            with durability.effect_turn(lock):
                yield
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [lock])
        try:
            yield
        finally:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [lock])
            except DatabaseError:  # the session is gone, and its locks went with it
                pass
        return
    # Files of their own: a try-lock taken in the same thread (an ops action's) never waits on this one's file.
    path = _lock_file(str(connection.settings_dict["NAME"]), key(kind, *parts) % _BUCKETS, waits=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def in_turn_to_commit(kind: str, *parts: object) -> Iterator[None]:
    """``in_turn`` inside a transaction, on PostgreSQL: the lock (``pg_advisory_xact_lock``) is held until the
    transaction commits or rolls back, so the next holder sees what this one wrote. Taken whatever
    ``TPFGO_CLAIM_LOCKS``: a transaction's lock cannot outlive it on a pooler's server connection."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql" or not connection.in_atomic_block:
        raise RuntimeError("in_turn_to_commit needs a transaction on PostgreSQL")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key(kind, *parts)])
    yield


_BUCKETS = 256


def _lock_file(database: str, bucket: int, *, waits: bool = False) -> Path:
    """A file database's locks sit beside it (``<file>.locks/``); an in-memory one's, which only its process sees,
    in the temporary folder under its process id. ``in_turn``'s (``waits``) are other files than ``exclusive``'s."""
    if database.startswith("file:") or database in ("", ":memory:"):
        folder = Path(tempfile.gettempdir()) / f"tpfgo-locks-{os.getpid()}"
    else:
        folder = Path(f"{database}.locks")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / (f"wait-{bucket:03d}" if waits else f"{bucket:03d}")
