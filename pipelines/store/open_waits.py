"""``OpenWait``: the waits no round has closed yet, kept by database triggers on the wait ledgers.

A wait opens with ``WaitOpened`` (round 1, its first deadline). Each ``WaitEnded`` row ends one round: with a
``next_due_at`` it re-arms the wait for the next round, without one it closes it. ``WaitExtended`` moves the
current round's deadline. The deadline task and the dashboard read this table by ``due_at``: what is waiting
now, never every wait ever. Like ``pipelines.store.open_parked``, it is rebuilt from the ledgers after every migrate
and ``pipelines.E035`` checks the triggers.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core import checks
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from pipelines import triggers

PREFIX = "tpfgo_wait"
OPEN = "pipelines_openwait"
OPENED = "pipelines_waitopened"
ENDED = "pipelines_waitended"
EXTENDED = "pipelines_waitextended"
_TABLES = {OPEN, OPENED, ENDED, EXTENDED}

# Plain literals: no value is ever spliced into these statements.
_OPEN = (
    "INSERT INTO pipelines_openwait (wait_id, pipeline, step, trace_id, item_id, round, opened_at, due_at) "
    "VALUES (NEW.id, NEW.pipeline, NEW.step, NEW.trace_id, NEW.item_id, 1, NEW.opened_at, NEW.due_at) "
    "ON CONFLICT DO NOTHING"
)
_GONE = "DELETE FROM pipelines_openwait WHERE wait_id = OLD.id"
_REARM = (
    "UPDATE pipelines_openwait SET round = NEW.round + 1, due_at = NEW.next_due_at "
    "WHERE wait_id = NEW.wait_id AND round = NEW.round"
)
_CLOSE = "DELETE FROM pipelines_openwait WHERE wait_id = NEW.wait_id AND round = NEW.round"
_EXTEND = "UPDATE pipelines_openwait SET due_at = NEW.due_at WHERE wait_id = NEW.wait_id AND round = NEW.round"

_PG = [
    f"""CREATE OR REPLACE FUNCTION tpfgo_wait_opened() RETURNS trigger AS $$
BEGIN
    {_OPEN};
    RETURN NULL;
END; $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE FUNCTION tpfgo_wait_gone() RETURNS trigger AS $$
BEGIN
    {_GONE};
    RETURN NULL;
END; $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE FUNCTION tpfgo_wait_ended() RETURNS trigger AS $$
BEGIN
    IF NEW.next_due_at IS NULL THEN
        {_CLOSE};
    ELSE
        {_REARM};
    END IF;
    RETURN NULL;
END; $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE FUNCTION tpfgo_wait_extended() RETURNS trigger AS $$
BEGIN
    {_EXTEND};
    RETURN NULL;
END; $$ LANGUAGE plpgsql""",
]
_PG_TRIGGERS = [
    ("opened_ai", OPENED, "INSERT", "tpfgo_wait_opened()"),
    ("opened_ad", OPENED, "DELETE", "tpfgo_wait_gone()"),
    ("ended_ai", ENDED, "INSERT", "tpfgo_wait_ended()"),
    ("extended_ai", EXTENDED, "INSERT", "tpfgo_wait_extended()"),
]
_SQLITE_TRIGGERS = [
    ("opened_ai", OPENED, "INSERT", "", _OPEN),
    ("opened_ad", OPENED, "DELETE", "", _GONE),
    ("closed_ai", ENDED, "INSERT", "WHEN NEW.next_due_at IS NULL", _CLOSE),
    ("rearmed_ai", ENDED, "INSERT", "WHEN NEW.next_due_at IS NOT NULL", _REARM),
    ("extended_ai", EXTENDED, "INSERT", "", _EXTEND),
]
# Each wait's newest round (the highest ended round + 1), its deadline the newest extension of that round or
# the re-arming row's; a wait whose newest ended round closed it is gone.
_REBUILD = [
    "DELETE FROM pipelines_openwait",
    """INSERT INTO pipelines_openwait (wait_id, pipeline, step, trace_id, item_id, round, opened_at, due_at)
    SELECT w.id, w.pipeline, w.step, w.trace_id, w.item_id, COALESCE(e.round + 1, 1), w.opened_at,
        COALESCE(
            (SELECT x.due_at FROM pipelines_waitextended x
             WHERE x.wait_id = w.id AND x.round = COALESCE(e.round + 1, 1) ORDER BY x.created_at DESC, x.due_at DESC
             LIMIT 1),
            e.next_due_at, w.due_at)
    FROM pipelines_waitopened w LEFT JOIN pipelines_waitended e
      ON e.wait_id = w.id AND e.round = (SELECT max(n.round) FROM pipelines_waitended n WHERE n.wait_id = w.id)
    WHERE e.id IS NULL OR e.next_due_at IS NOT NULL""",
]


TRIGGERS = triggers.TriggerSet.per_row(PREFIX, _TABLES, _PG, _PG_TRIGGERS, _SQLITE_TRIGGERS, _REBUILD)


def install(connection: BaseDatabaseWrapper, *, force: bool = False) -> bool:
    """(Re)create the triggers, then rebuild the table from the wait ledgers
    (only when missing or stale, unless ``force``)."""
    return TRIGGERS.install(connection, force=force)


def rebuild(using: str = "default") -> None:
    install(connections[using], force=True)


def check_triggers(
    app_configs: object = None, databases: Sequence[str] | None = None, **kwargs: object
) -> list[checks.CheckMessage]:
    """System check (database tag): the open-wait triggers are installed."""
    return TRIGGERS.check(databases, "open-wait", "pipelines.E035")
