"""Database triggers that refuse UPDATE, DELETE and TRUNCATE (and SQLite's REPLACE) on every checkpoint and
ledger table.

They are (re)installed after every migrate (SQLite table rebuilds drop them). The only way past them is the
audited purge flag (``purge_flag``; ``pipelines.store.db_roles.purge_allowed`` sets it as the purge role), used by
test teardown and retention: a PostgreSQL session setting, or on SQLite a per-connection SQL function (a
connection without it cannot delete at all). On PostgreSQL with the roles of ``pipelines.store.db_roles``, only
the purge role may delete at all.

SQLite's ``INSERT OR REPLACE`` deletes the row it conflicts with without firing DELETE triggers, unless the
connection turns ``recursive_triggers`` on. Every connection Django opens does (``guard_sqlite_connection``), so
REPLACE meets the DELETE trigger; a BEFORE INSERT trigger calls ``tpfgo_insert_guard()``, a function only those
connections have, so a connection without the guard (the ``sqlite3`` shell, another program) cannot insert into
these tables at all. ``INSERT ... ON CONFLICT DO NOTHING`` (the engine's idempotent insert) deletes nothing and
keeps working; an UPSERT's ``DO UPDATE`` meets the UPDATE trigger.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import structlog
from django.apps import apps
from django.core import checks
from django.db import OperationalError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper

from pipelines.models import InsertOnlyModel

log = structlog.get_logger("pipelines.triggers")

PREFIX = "tpfgo_insert_only"
# A derived-table rebuild waits this long for each lock, this many times (a peer's insert holds its table).
LOCK_TIMEOUT = "10s"
LOCK_ATTEMPTS = 5
MARKER = "tpfgo rebuilt "
PG_TRUNCATE = f"{PREFIX}_truncate"
SQLITE_KINDS = ("u", "d", "i")  # UPDATE, DELETE, INSERT (the guard against unguarded connections)

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION tpfgo_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') AND current_setting('tpfgo.purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'tpfgo: % refused on insert-only table %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""


def insert_only_tables() -> list[str]:
    return sorted(
        m._meta.db_table
        for m in apps.get_models()
        if issubclass(m, InsertOnlyModel) and not m._meta.proxy and m._meta.managed
    )


def install(connection: BaseDatabaseWrapper) -> None:
    """Guard every insert-only table. On PostgreSQL only the tables (and partitions) without their triggers are
    touched: a ``DROP TRIGGER`` waits for, and then blocks, a live peer's inserts into its table."""
    tables = set(insert_only_tables()) & set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(PG_FUNCTION)
            absent = set(missing(connection))
            for table in sorted(tables & absent):
                qtable = connection.ops.quote_name(table)
                cursor.execute(f"DROP TRIGGER IF EXISTS {PREFIX} ON {qtable}")
                cursor.execute(
                    f"CREATE TRIGGER {PREFIX} BEFORE UPDATE OR DELETE ON {qtable} "
                    "FOR EACH ROW EXECUTE FUNCTION tpfgo_refuse_change()"
                )
                # TRUNCATE fires no row trigger; a statement-level one fires for every table it empties, the
                # ones CASCADE adds included.
                cursor.execute(f"DROP TRIGGER IF EXISTS {PG_TRUNCATE} ON {qtable}")
                cursor.execute(
                    f"CREATE TRIGGER {PG_TRUNCATE} BEFORE TRUNCATE ON {qtable} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION tpfgo_refuse_change()"
                )
            for partition in _partitions(cursor, sorted(tables)):
                if partition in absent:
                    _guard_partition(cursor, connection.ops.quote_name(partition))
        elif connection.vendor == "sqlite":
            for table in sorted(tables):
                qtable = connection.ops.quote_name(table)
                message = f"tpfgo: %s refused on insert-only table {table}"
                for kind in SQLITE_KINDS:
                    cursor.execute(f"DROP TRIGGER IF EXISTS {PREFIX}_{kind}_{table}")
                cursor.execute(
                    f"CREATE TRIGGER {PREFIX}_u_{table} BEFORE UPDATE ON {qtable} "
                    f"BEGIN SELECT RAISE(ABORT, '{message % 'UPDATE'}'); END"
                )
                cursor.execute(
                    f"CREATE TRIGGER {PREFIX}_d_{table} BEFORE DELETE ON {qtable} "
                    f"WHEN tpfgo_purge_allowed() = 0 BEGIN SELECT RAISE(ABORT, '{message % 'DELETE'}'); END"
                )
                cursor.execute(
                    f"CREATE TRIGGER {PREFIX}_i_{table} BEFORE INSERT ON {qtable} WHEN tpfgo_insert_guard() = 0 "
                    f"BEGIN SELECT RAISE(ABORT, '{message % 'INSERT without recursive_triggers'}'); END"
                )


def _partitions(cursor: CursorWrapper, tables: Sequence[str]) -> list[str]:
    """PostgreSQL: the partitions of these tables (``pipelines.store.partitions``)."""
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY(%s) ORDER BY c.relname",
        [list(tables)],
    )
    return [row[0] for row in cursor.fetchall()]


def _guard_partition(cursor: CursorWrapper, qtable: str) -> None:
    # A partition inherits its table's row triggers (PostgreSQL clones them, to partitions made later too), not
    # its statement-level ones: a TRUNCATE naming the partition itself would pass unguarded.
    cursor.execute(f"DROP TRIGGER IF EXISTS {PG_TRUNCATE} ON {qtable}")
    cursor.execute(
        f"CREATE TRIGGER {PG_TRUNCATE} BEFORE TRUNCATE ON {qtable} "
        "FOR EACH STATEMENT EXECUTE FUNCTION tpfgo_refuse_change()"
    )


def guard_partition(connection: BaseDatabaseWrapper, partition: str) -> None:
    """PostgreSQL: refuse TRUNCATE on a new partition of an insert-only table (its row triggers come with it)."""
    with connection.cursor() as cursor:
        _guard_partition(cursor, connection.ops.quote_name(partition))


def missing(connection: BaseDatabaseWrapper) -> list[str]:
    """Insert-only tables lacking their triggers on this database."""
    tables = set(insert_only_tables()) & set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE t.tgname IN (%s, %s) AND NOT t.tgisinternal",
                [PREFIX, PG_TRUNCATE],
            )
            have = set(cursor.fetchall())
            absent = [t for t in tables if {(t, PREFIX), (t, PG_TRUNCATE)} - have]
            absent += [p for p in _partitions(cursor, sorted(tables)) if (p, PG_TRUNCATE) not in have]
            return sorted(absent)
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            names = {row[0] for row in cursor.fetchall()}
            return sorted(t for t in tables if {f"{PREFIX}_{kind}_{t}" for kind in SQLITE_KINDS} - names)
    return []


def sqlite_unguarded(connection: BaseDatabaseWrapper) -> bool:
    """True when this SQLite connection lets ``INSERT OR REPLACE`` delete without firing DELETE triggers."""
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA recursive_triggers")
        (recursive,) = cursor.fetchone()
        return bool(recursive != 1)


def installed(connection: BaseDatabaseWrapper, prefix: str) -> set[str] | None:
    """Names of the triggers on this database whose name starts with ``prefix`` (None: a vendor without them)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE %s AND NOT tgisinternal", [f"{prefix}%"])
        elif connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE %s", [f"{prefix}%"])
        else:
            return None
        return {row[0] for row in cursor.fetchall()}


_FUNCTION = re.compile(r"CREATE OR REPLACE FUNCTION (\w+)\(")


def definer(connection: BaseDatabaseWrapper) -> str:
    """PostgreSQL: the clause that runs a trigger function as its owner (the serving role needs no grant on the
    table it writes), with a fixed search path (this schema, then the temporary one, never first)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        (schema,) = cursor.fetchone()
    return f" SECURITY DEFINER SET search_path = {connection.ops.quote_name(schema)}, pg_temp"


@dataclass(frozen=True)
class TriggerSet:
    """Tables kept by triggers beside the ledgers or checkpoints they derive from (``checkout.derived``,
    ``pipelines.store.open_parked``): installed after every migrate, then rebuilt from the source tables.

    A trigger is ``(name, table, definition)``: created as ``CREATE TRIGGER <prefix>_<name>_<table> <definition>``.
    """

    prefix: str
    tables: frozenset[str]  # every table involved: nothing is installed before they all exist
    pg_functions: Sequence[str]
    pg_triggers: Sequence[tuple[str, str, str]]
    sqlite_triggers: Sequence[tuple[str, str, str]]
    rebuild: Sequence[str]

    @classmethod
    def per_row(
        cls,
        prefix: str,
        tables: Iterable[str],
        pg_functions: Sequence[str],
        pg_triggers: Sequence[tuple[str, str, str, str]],
        sqlite_triggers: Sequence[tuple[str, str, str, str, str]],
        rebuild: Sequence[str],
    ) -> TriggerSet:
        """Row-level triggers: PostgreSQL ``(name, table, event, function call)``, SQLite ``(name, table, event,
        WHEN condition or "", body)``, each firing after its event on every row."""
        return cls(
            prefix=prefix,
            tables=frozenset(tables),
            pg_functions=pg_functions,
            pg_triggers=[
                (name, table, f"AFTER {event} ON {table} FOR EACH ROW EXECUTE FUNCTION {call}")
                for name, table, event, call in pg_triggers
            ],
            sqlite_triggers=[
                (name, table, f"AFTER {event} ON {table} {condition} BEGIN {body}; END")
                for name, table, event, condition, body in sqlite_triggers
            ],
            rebuild=rebuild,
        )

    def name(self, name: str, table: str) -> str:
        return f"{self.prefix}_{name}_{table}"

    def _ready(self, connection: BaseDatabaseWrapper) -> bool:
        return self.tables <= set(connection.introspection.table_names())

    def install(self, connection: BaseDatabaseWrapper, *, force: bool = False) -> bool:
        """(Re)create the triggers, then rebuild the derived tables; returns whether it did.

        Without ``force``, nothing is done when every trigger is in place and PostgreSQL's marker (a comment on
        the set's first function: a digest of every statement below) matches, so a node starting beside live
        peers leaves the tables their triggers keep alone. When a rebuild is due it runs in one transaction that
        first locks the source and derived tables against writes (readers go on): no insert can fire a trigger
        between the ``DELETE`` and the recount, and a peer's insert waits for the commit instead of racing it.
        """
        if not self._ready(connection) or connection.vendor not in ("postgresql", "sqlite"):
            return False
        postgresql = connection.vendor == "postgresql"
        functions = [f + definer(connection) for f in self.pg_functions] if postgresql else []
        triggers = self.pg_triggers if postgresql else self.sqlite_triggers
        digest = self._digest(functions, triggers)
        if not force and postgresql and not self.missing(connection) and self._marker(connection) == digest:
            return False
        for attempt in range(1, LOCK_ATTEMPTS + 1):
            try:
                with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                    self._install(cursor, postgresql, functions, triggers, digest)
                return True
            except OperationalError as exc:  # a deadlock or lock timeout against a peer's insert: once more
                if attempt == LOCK_ATTEMPTS:
                    raise
                log.warning("triggers.rebuild_retry", prefix=self.prefix, attempt=attempt, error=str(exc))
        return True

    def _install(
        self,
        cursor: CursorWrapper,
        postgresql: bool,
        functions: Sequence[str],
        triggers: Sequence[tuple[str, str, str]],
        digest: str,
    ) -> None:
        if postgresql:
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            cursor.execute(f"LOCK TABLE {', '.join(sorted(self.tables))} IN SHARE ROW EXCLUSIVE MODE")
        for function in functions:
            cursor.execute(function)
        for name, table, definition in triggers:
            trigger = self.name(name, table)
            if postgresql:
                cursor.execute(f"CREATE OR REPLACE TRIGGER {trigger} {definition}")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {trigger}")
                cursor.execute(f"CREATE TRIGGER {trigger} {definition}")
        for statement in self.rebuild:
            cursor.execute(statement)
        if postgresql:
            cursor.execute(f"COMMENT ON FUNCTION {self._marked()}() IS %s", [f"{MARKER}{digest}"])

    def _digest(self, functions: Sequence[str], triggers: Sequence[tuple[str, str, str]]) -> str:
        text = "\n".join([*functions, *(" ".join(t) for t in triggers), *self.rebuild])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _marked(self) -> str:
        match = _FUNCTION.search(self.pg_functions[0])
        assert match is not None, "a trigger set's first PostgreSQL statement creates its marked function"
        return match.group(1)

    def _marker(self, connection: BaseDatabaseWrapper) -> str:
        """PostgreSQL: the digest the last rebuild recorded ("" when none did). SQLite keeps none: it rebuilds
        after every migrate (its table rebuilds drop triggers), in one transaction, which SQLite serialises."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT obj_description(p.oid, 'pg_proc') FROM pg_proc p WHERE p.proname = %s", [self._marked()]
            )
            row = cursor.fetchone()
        comment = (row[0] if row else None) or ""
        return comment.removeprefix(MARKER) if comment.startswith(MARKER) else ""

    def check(self, databases: Sequence[str] | None, kept: str, error_id: str) -> list[checks.CheckMessage]:
        """A system check's answer (database tag): one error per database where some of these triggers are
        missing; ``kept`` names what they keep (in the message and the hint)."""
        problems: list[checks.CheckMessage] = []
        for alias in databases or []:
            absent = self.missing(connections[alias])
            if absent:
                problems.append(
                    checks.Error(
                        f"{kept} triggers missing on {alias}: {', '.join(absent)}",
                        hint=f"Run 'manage.py migrate' (it reinstalls them and rebuilds the {kept} rows).",
                        id=error_id,
                    )
                )
        return problems

    def missing(self, connection: BaseDatabaseWrapper) -> list[str]:
        """Names of the triggers absent from this database (none before the tables exist), and on PostgreSQL of
        the trigger functions that would not run as their owner (the serving role may not write these tables)."""
        if not self._ready(connection):
            return []
        have = installed(connection, self.prefix)
        if have is None:
            return []
        absent = [name for name in self.names(connection.vendor) if name not in have]
        if connection.vendor == "postgresql":
            absent += [f"{name}() as its owner" for name in self._not_definers(connection)]
        return absent

    def _not_definers(self, connection: BaseDatabaseWrapper) -> list[str]:
        functions = [match.group(1) for f in self.pg_functions if (match := _FUNCTION.search(f))]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT proname FROM pg_proc WHERE proname = ANY(%s) AND prosecdef "
                "AND EXISTS (SELECT 1 FROM unnest(proconfig) AS c WHERE c LIKE 'search_path=%%')",
                [functions],
            )
            definers = {row[0] for row in cursor.fetchall()}
        return [name for name in functions if name not in definers]

    def names(self, vendor: str) -> list[str]:
        """The triggers' names on this vendor."""
        wanted = self.pg_triggers if vendor == "postgresql" else self.sqlite_triggers
        return [self.name(name, table) for name, table, _ in wanted]


def guard_sqlite_connection(connection: BaseDatabaseWrapper) -> None:
    """On a new SQLite connection: the purge function, and REPLACE made to fire the DELETE triggers."""
    if connection.vendor != "sqlite":
        return
    raw = connection.connection
    raw.create_function(
        "tpfgo_purge_allowed",
        0,
        lambda: 1 if getattr(connection, "tpfgo_purge", False) else 0,
        deterministic=False,
    )
    raw.execute("PRAGMA recursive_triggers = ON")
    guarded = int(raw.execute("PRAGMA recursive_triggers").fetchone()[0] == 1)
    raw.create_function("tpfgo_insert_guard", 0, lambda: guarded, deterministic=True)


@contextmanager
def purge_flag(reason: str, using: str) -> Iterator[None]:
    connection = connections[using]
    log.warning("purge.enabled", reason=reason, database=using, user=connection.settings_dict.get("USER", ""))
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('tpfgo.purge', 'on', false)")
    connection.tpfgo_purge = True  # type: ignore[attr-defined]
    try:
        yield
    finally:
        connection.tpfgo_purge = False  # type: ignore[attr-defined]
        if connection.vendor == "postgresql" and connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('tpfgo.purge', 'off', false)")
        log.warning("purge.disabled", reason=reason, database=using)
