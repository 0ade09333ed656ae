"""``OpenPosition``: the log positions their traces have not gone on from (the sweeper's frontier), kept by triggers.

A trace is stalled at a ``CheckpointLog`` row only if no newer row of the row's pipeline, or of a pipeline
downstream of it, was logged (``pipelines.recovery.resume``). Finding such rows in the log costs every row of the
sweep's window; the triggers keep them instead, in the transaction that logs the next row:

- a logged row enters, unless its publication is terminal (it can never be stalled) or a row of the same
  statement already went on from it;
- it removes the older rows of its trace it went on from: those of its own pipeline, of a pipeline it runs
  downstream of, and of a pipeline the flow does not know (any newer row counts for those, as in the sweeper);
- a ``Resumption`` that decides a position for good (skipped, or the last attempt) removes it; a rebuild leaves out
  only the skips that hold under the composition in force (blank, or its fingerprint: ``resume.settled``), so a
  position nothing followed in the composition before is decided again;
- a deleted log row (the audited purge) takes its row out; a dropped month takes its rows out in the drop function
  (``pipelines.store.partition_functions``).

On PostgreSQL the log's insert trigger runs once per statement over its new rows (a transition table), so the
batched path pays per batch; SQLite's runs per row. "Downstream" and "terminal" are the composition's: the
triggers read them from ``FlowRule``, written from the composition before every rebuild
(``pipelines.recovery.frontier``). The table holds a superset of what is stalled: the sweeper still applies its own
checks to these rows, so a row a concurrent insert left behind (two transactions of one trace, each not seeing the
other's row) costs a probe, never a wrong resume. Like ``pipelines.store.open_parked``, it is rebuilt from the log
after every migrate, and ``pipelines.E044`` checks the triggers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper

from pipelines import triggers

PREFIX = "tpfgo_frontier"
OPEN = "pipelines_openposition"
RULES = "pipelines_flowrule"
LOG = "pipelines_checkpointlog"
RESUMPTION = "pipelines_resumption"
_TABLES = {OPEN, RULES, LOG, RESUMPTION}
MAX_ATTEMPTS = 3  # pipelines.recovery.resume.MAX_RESUME_ATTEMPTS (a test holds them equal)

Rule = tuple[str, str, str]  # (kind, name, other): FlowRule's columns

# Plain literals: no value is ever spliced into these statements, only the module's own fragments and constants
# (hence the file-wide S608 exemption below). ``{row}`` is the log row's alias (NEW or ``l``).
# ruff: noqa: S608
_TERMINAL = "EXISTS (SELECT 1 FROM pipelines_flowrule t WHERE t.kind = 'terminal' AND t.name = {row}.publication)"
_WENT_ON_FROM = (
    "(EXISTS (SELECT 1 FROM pipelines_flowrule r WHERE r.kind = 'after' AND r.name = {old} AND r.other = {new}) "
    "OR NOT EXISTS (SELECT 1 FROM pipelines_flowrule r WHERE r.kind = 'after' AND r.name = {old}))"
)
_WENT_ON = (
    "DELETE FROM pipelines_openposition WHERE trace_number = NEW.trace_number AND seq < NEW.seq AND "
    + _WENT_ON_FROM.format(old="pipelines_openposition.pipeline", new="NEW.pipeline")
)
_COLUMNS = "seq, trace_number, trace_id, pipeline, created_at, trace_created_at"
_LOGGED_COLUMNS = ", ".join("l." + c for c in _COLUMNS.split(", "))  # the same, read from a log row ``l``
_ENTERS = (
    f"INSERT INTO pipelines_openposition ({_COLUMNS}) "
    "SELECT NEW.seq, NEW.trace_number, NEW.trace_id, NEW.pipeline, NEW.created_at, NEW.trace_created_at "
    f"WHERE NOT {_TERMINAL.format(row='NEW')} ON CONFLICT DO NOTHING"
)
_GONE = "DELETE FROM pipelines_openposition WHERE seq = OLD.seq"
_DECIDED = f"NEW.decision = 'skipped' OR NEW.attempt >= {MAX_ATTEMPTS}"
_SETTLED = "DELETE FROM pipelines_openposition WHERE seq = NEW.seq"

SMALL = 1000  # rows of one statement up to which the trigger's statements keep their first plan


def _quoted(statement: str) -> str:
    return "'" + statement.replace("'", "''") + "'"


# PostgreSQL: one call per statement, set-based, over the statement's new rows (a transition table): a batch of
# orders costs two statements, not two per row. The delete takes out every position that a newer row of its trace
# went on from: one probe of ``open_position_trace_seq`` per new row.
_PG_WENT_ON = (
    "DELETE FROM pipelines_openposition o USING logged n WHERE o.trace_number = n.trace_number AND o.seq < n.seq "
    "AND " + _WENT_ON_FROM.format(old="o.pipeline", new="n.pipeline")
)
_PG_SELECTED = f"SELECT {_LOGGED_COLUMNS} FROM logged l "
# NOT IN (names are NOT NULL): one hashed look-up of the terminal names, not a probe of FlowRule per new row.
_PG_NOT_TERMINAL = "l.publication NOT IN (SELECT t.name FROM pipelines_flowrule t WHERE t.kind = 'terminal')"
# Up to SMALL rows: every new row that is not terminal enters, then the delete takes out those a newer row of the
# same statement went on from, with the older positions. Each statement reads the new rows once, so its cost grows
# with the rows whatever plan it runs (a batch step writes one row per trace: nothing enters to leave again).
_PG_ENTERS = (
    f"INSERT INTO pipelines_openposition ({_COLUMNS}) {_PG_SELECTED}WHERE {_PG_NOT_TERMINAL} ON CONFLICT DO NOTHING"
)
# Past SMALL rows, planned for the rows at hand: the older positions go, then only the rows no newer row of the
# statement went on from enter (a bulk load of whole traces, 19 rows each, puts in one row per trace, not 19).
_PG_ENTERS_NEWEST = (
    f"INSERT INTO pipelines_openposition ({_COLUMNS}) {_PG_SELECTED}"
    f"WHERE {_PG_NOT_TERMINAL} AND NOT EXISTS (SELECT 1 FROM logged n "
    "WHERE n.trace_number = l.trace_number AND n.seq > l.seq AND "
    + _WENT_ON_FROM.format(old="l.pipeline", new="n.pipeline")
    + ") ON CONFLICT DO NOTHING"
)
_PG = [
    # A statement's plan is made at its first call in a session and kept, for the row count the transition table
    # had then (one row, on the single path): the statements up to SMALL rows must cost what their rows cost under
    # any plan. The new rows joined with themselves under a kept one-row plan compared every pair, 250,000
    # comparisons (30 ms) for a 500-row batch step (docs/performance.md, "The frontier trigger's kept plan"). Past
    # SMALL rows the statements are planned for the rows at hand (EXECUTE), which costs a planning per statement and
    # lets the self-join be a hash join. JIT is off in the function: the planner's estimate over a churned table
    # passed ``jit_above_cost`` and compiling took 120 ms for a delete that ran in 2 ms.
    f"""CREATE OR REPLACE FUNCTION tpfgo_frontier_logged() RETURNS trigger AS $$
BEGIN
    IF (SELECT count(*) FROM (SELECT 1 FROM logged LIMIT {SMALL + 1}) s) <= {SMALL} THEN
        {_PG_ENTERS};
        {_PG_WENT_ON};
    ELSE
        EXECUTE {_quoted(_PG_WENT_ON)};
        EXECUTE {_quoted(_PG_ENTERS_NEWEST)};
    END IF;
    RETURN NULL;
END; $$ LANGUAGE plpgsql SET jit = off""",
    f"""CREATE OR REPLACE FUNCTION tpfgo_frontier_gone() RETURNS trigger AS $$
BEGIN
    {_GONE};
    RETURN NULL;
END; $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE FUNCTION tpfgo_frontier_decided() RETURNS trigger AS $$
BEGIN
    IF {_DECIDED} THEN
        {_SETTLED};
    END IF;
    RETURN NULL;
END; $$ LANGUAGE plpgsql""",
]
_PG_TRIGGERS = [
    ("log_ad", LOG, "DELETE", "tpfgo_frontier_gone()"),
    ("resumed_ai", RESUMPTION, "INSERT", "tpfgo_frontier_decided()"),
]
_PG_STATEMENT = (
    "log_ai",
    LOG,
    f"AFTER INSERT ON {LOG} REFERENCING NEW TABLE AS logged FOR EACH STATEMENT "
    "EXECUTE FUNCTION tpfgo_frontier_logged()",
)
_SQLITE_TRIGGERS = [
    ("log_ai", LOG, "INSERT", "", f"{_WENT_ON}; {_ENTERS}"),
    ("log_ad", LOG, "DELETE", "", _GONE),
    ("resumed_ai", RESUMPTION, "INSERT", f"WHEN {_DECIDED}", _SETTLED),
]
# The same three judgements over the log: not terminal, no newer row it went on from, not decided for good under the
# flow rules just written (a skip decided under another composition's is decided again).
_REFILL = (
    f"INSERT INTO pipelines_openposition ({_COLUMNS}) "
    f"SELECT {_LOGGED_COLUMNS} FROM pipelines_checkpointlog l "
    f"WHERE {{where}} AND NOT {_TERMINAL.format(row='l')} "
    "AND NOT EXISTS (SELECT 1 FROM pipelines_checkpointlog n WHERE n.trace_number = l.trace_number "
    f"AND n.seq > l.seq AND {_WENT_ON_FROM.format(old='l.pipeline', new='n.pipeline')}) "
    "AND NOT EXISTS (SELECT 1 FROM pipelines_resumption d WHERE d.trace_id = l.trace_id AND d.seq = l.seq "
    "AND (d.decision = 'skipped' AND (d.composition = '' OR d.composition IN "
    "(SELECT f.name FROM pipelines_flowrule f WHERE f.kind = 'fingerprint')) "
    f"OR d.attempt >= {MAX_ATTEMPTS})) ON CONFLICT DO NOTHING"
)
_REBUILD = ["DELETE FROM pipelines_openposition", _REFILL.format(where="1 = 1")]

_PER_ROW = triggers.TriggerSet.per_row(PREFIX, _TABLES, _PG, _PG_TRIGGERS, _SQLITE_TRIGGERS, _REBUILD)
TRIGGERS = dataclasses.replace(_PER_ROW, pg_triggers=[_PG_STATEMENT, *_PER_ROW.pg_triggers])


def install(connection: BaseDatabaseWrapper, rules: Iterable[Rule], *, force: bool = False) -> None:
    """Write the flow rules, (re)create the triggers, then rebuild the frontier from the log: one transaction,
    so a peer's insert meanwhile sees the old rules and rows or the new ones. Nothing is done when the rules are
    the database's already and the triggers are in place (a node starting beside live peers); changed rules
    rebuild the frontier, since what it holds follows from them."""
    if not TRIGGERS.tables <= set(connection.introspection.table_names()):
        return
    wanted = set(rules)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SELECT kind, name, other FROM pipelines_flowrule")
        changed = {(kind, name, other) for kind, name, other in cursor.fetchall()} != wanted
        if changed:
            write_rules(cursor, wanted)
        TRIGGERS.install(connection, force=force or changed)


def write_rules(cursor: CursorWrapper, rules: Iterable[Rule]) -> None:
    cursor.execute("DELETE FROM pipelines_flowrule")
    cursor.executemany("INSERT INTO pipelines_flowrule (kind, name, other) VALUES (%s, %s, %s)", sorted(set(rules)))


def read_rules(using: str = "default") -> set[Rule]:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT kind, name, other FROM pipelines_flowrule")
        return {(kind, name, other) for kind, name, other in cursor.fetchall()}


def refill_statement(where: str) -> str:
    """The statement that puts back the open positions of the log rows ``where`` selects (alias ``l``): what the
    partition function runs for rows it moved between partitions (``pipelines.store.partition_functions``), whose
    delete took them out."""
    return _REFILL.format(where=where)


def missing(connection: BaseDatabaseWrapper) -> list[str]:
    """Names of the frontier's triggers absent from this database (none before the tables exist)."""
    return TRIGGERS.missing(connection)


def names(vendor: str) -> Sequence[str]:
    return TRIGGERS.names(vendor)
