"""Start-up beside live peers: one ``migrate`` at a time, and no server on a schema that is behind its code.

Several nodes share one PostgreSQL. Each runs ``manage.py migrate`` when it starts (``bin/run``), so two may run at
once, while others serve. ``migrate`` holds a session-level advisory lock (``MIGRATE_LOCK``) for its whole run: a
second node waits, then finds nothing to apply; the trigger-kept tables are rebuilt only when missing or stale
(``pipelines.triggers.TriggerSet.install``). A node whose code expects migrations the database lacks (a new release
started before anyone migrated) refuses to serve (``refuse_if_behind``) instead of failing on its first query.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor

log = structlog.get_logger("pipelines.schema")

# pg_advisory_lock keys of this project (any bigint; distinct per purpose, documented in docs/operations.md).
MIGRATE_LOCK = 7_400_022_001
# The start-up check's read, refused for now (``_pending_read``): tried this often, pausing 0.2 s, 0.4 s, … between.
READ_ATTEMPTS = 5
READ_PAUSE = 0.2


class SchemaBehind(Exception):
    """The database lacks migrations this code needs."""


@contextmanager
def migrate_lock(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """PostgreSQL: hold ``MIGRATE_LOCK`` on this connection for the block (a peer's migrate waits; a process that
    dies releases it with its session). Other vendors: nothing to hold (SQLite serialises its writers)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [MIGRATE_LOCK])
        (taken,) = cursor.fetchone()
        if not taken:
            log.info("migrate.waiting", reason="another node is migrating this database")
            cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATE_LOCK])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATE_LOCK])


def pending(using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """The migrations this code has that the database has not applied, as ``app.name``."""
    executor = MigrationExecutor(connections[using])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def _pending_read(using: str) -> list[str]:
    """``pending``, read again after a moment when the database refuses the read for now: on SQLite the processes
    ``make run`` starts open the file at once, and a reader that meets another's recovery of the WAL index gets
    ``locking protocol`` (SQLITE_PROTOCOL), which the busy timeout does not wait out."""
    for attempt in range(1, READ_ATTEMPTS + 1):
        try:
            return pending(using)
        except OperationalError as exc:
            if attempt == READ_ATTEMPTS:
                raise
            log.info("schema.read_retried", attempt=attempt, error=str(exc))
            connections[using].close()
            time.sleep(READ_PAUSE * attempt)
    raise AssertionError("unreachable")


def refuse_if_behind(process: str, using: str = DEFAULT_DB_ALIAS) -> None:
    """Raise ``SchemaBehind`` with a message saying what to do when ``process`` should not serve."""
    missing = _pending_read(using)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise SchemaBehind(
            f"{process} refuses to start: the database schema is behind this code ({len(missing)} unapplied "
            f"migration(s): {shown}). Run 'manage.py migrate' (as the owner role: DATABASE_OWNER_URL) or start "
            "one node with 'make run' / 'bin/node prepare' first."
        )


def refuse_worker_start(**kwargs: object) -> None:
    """Celery ``worker_init`` receiver (connected by the pipelines app)."""
    _exit_if_behind("the Celery worker")


def refuse_beat_start(**kwargs: object) -> None:
    """Celery ``beat_init`` receiver (connected by the pipelines app)."""
    _exit_if_behind("Celery beat")


def _exit_if_behind(process: str) -> None:
    # Celery logs and swallows exceptions raised by signal receivers, so a node behind its schema exits instead.
    try:
        refuse_if_behind(process)
    except SchemaBehind as exc:
        log.error("schema.behind", message=str(exc))
        raise SystemExit(1) from None
