"""``OpenParked``: the open failures (parked items still retrying or dead-lettered), kept by database triggers.

A parked item is open while no outcome closed it, or while its newest outcome is a dead letter (``ParkingOutcome``:
the newest row counts). Reading that from the ledgers means every parked item ever, with its newest outcome: the
dashboard's cost grew with history. The triggers keep one row per open item instead, in the transaction that
parks or ends it: a parked item opens a row; a dead letter marks it (``dead_at``); any other outcome deletes it.
A delete (the audited purge path) takes the row out. Like ``checkout.derived``, the table is rebuilt from the
ledgers after every migrate (SQLite table rebuilds drop triggers) and ``pipelines.E008`` checks the triggers.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core import checks
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from pipelines import triggers

PREFIX = "tpfgo_open"
OPEN = "pipelines_openparked"
PARKED = "pipelines_parkeditem"
OUTCOME = "pipelines_parkingoutcome"
_TABLES = {OPEN, PARKED, OUTCOME}

# Plain literals: no value is ever spliced into these statements.
_OPENED = (
    "INSERT INTO pipelines_openparked (parked_id, pipeline, step, trace_id, dead_at) "
    "VALUES (NEW.id, NEW.pipeline, NEW.step, NEW.trace_id, NULL) ON CONFLICT DO NOTHING"
)
_GONE = "DELETE FROM pipelines_openparked WHERE parked_id = OLD.id"
# The newest outcome decides: a dead letter (re)opens the row, marked; anything else closes it.
_DEAD = (
    "INSERT INTO pipelines_openparked (parked_id, pipeline, step, trace_id, dead_at) "
    "SELECT p.id, p.pipeline, p.step, p.trace_id, NEW.created_at FROM pipelines_parkeditem p "
    "WHERE p.id = NEW.parked_id ON CONFLICT (parked_id) DO UPDATE SET dead_at = excluded.dead_at"
)
_CLOSED = "DELETE FROM pipelines_openparked WHERE parked_id = NEW.parked_id"

_PG = [
    f"""CREATE OR REPLACE FUNCTION tpfgo_open_parked() RETURNS trigger AS $$
BEGIN
    {_OPENED};
    RETURN NULL;
END; $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE FUNCTION tpfgo_open_gone() RETURNS trigger AS $$
BEGIN
    {_GONE};
    RETURN NULL;
END; $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE FUNCTION tpfgo_open_outcome() RETURNS trigger AS $$
BEGIN
    IF NEW.outcome = 'dead_lettered' THEN
        {_DEAD};
    ELSE
        {_CLOSED};
    END IF;
    RETURN NULL;
END; $$ LANGUAGE plpgsql""",
]
_PG_TRIGGERS = [
    # (name, table, event, function)
    ("parked_ai", PARKED, "INSERT", "tpfgo_open_parked()"),
    ("parked_ad", PARKED, "DELETE", "tpfgo_open_gone()"),
    ("outcome_ai", OUTCOME, "INSERT", "tpfgo_open_outcome()"),
]
_SQLITE_TRIGGERS = [
    # (name, table, event, condition, body)
    ("parked_ai", PARKED, "INSERT", "", _OPENED),
    ("parked_ad", PARKED, "DELETE", "", _GONE),
    ("dead_ai", OUTCOME, "INSERT", "WHEN NEW.outcome = 'dead_lettered'", _DEAD),
    ("closed_ai", OUTCOME, "INSERT", "WHEN NEW.outcome <> 'dead_lettered'", _CLOSED),
]
# The newest outcome of each item, by id (insertion order), as ``ParkingOutcome`` says.
_REBUILD = [
    "DELETE FROM pipelines_openparked",
    """INSERT INTO pipelines_openparked (parked_id, pipeline, step, trace_id, dead_at)
    SELECT p.id, p.pipeline, p.step, p.trace_id, o.created_at
    FROM pipelines_parkeditem p LEFT JOIN pipelines_parkingoutcome o
      ON o.id = (SELECT max(n.id) FROM pipelines_parkingoutcome n WHERE n.parked_id = p.id)
    WHERE o.id IS NULL OR o.outcome = 'dead_lettered'""",
]


TRIGGERS = triggers.TriggerSet.per_row(PREFIX, _TABLES, _PG, _PG_TRIGGERS, _SQLITE_TRIGGERS, _REBUILD)


def install(connection: BaseDatabaseWrapper, *, force: bool = False) -> bool:
    """(Re)create the triggers, then rebuild the table from the parking ledgers
    (only when missing or stale, unless ``force``)."""
    return TRIGGERS.install(connection, force=force)


def rebuild(using: str = "default") -> None:
    install(connections[using], force=True)


def missing(connection: BaseDatabaseWrapper) -> list[str]:
    """Names of the open-failure triggers absent from this database (none before the tables exist)."""
    return TRIGGERS.missing(connection)


def check_triggers(
    app_configs: object = None, databases: Sequence[str] | None = None, **kwargs: object
) -> list[checks.CheckMessage]:
    """System check (database tag): the open-failure triggers are installed."""
    return TRIGGERS.check(databases, "open-failure", "pipelines.E008")
