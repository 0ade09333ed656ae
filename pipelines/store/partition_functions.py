"""PostgreSQL: the owner's functions that make, lock and drop the months' partitions for the roles that own no table.

Creating a partition and dropping one need the tables' owner, and no server has its credentials
(``pipelines.store.db_roles``). Three functions, made by the owner after every migrate, run as it (``SECURITY
DEFINER``, ``search_path`` pinned to the tables' schema then ``pg_temp``, ``TimeZone`` UTC), each doing one thing with
checked arguments; PUBLIC's default EXECUTE is revoked when they are made, and ``setup_db_roles`` grants EXECUTE to the
purge role alone (the Celery workers' maintenance role: they run beat's ``pipelines.ensure_partitions`` and
``pipelines.purge``):

- ``tpfgo_partition_create(table, month)``: the month's partition of the log or the lineage, as
  ``pipelines.store.partitions.create`` describes (the default partition's rows of that month moved into it, its
  TRUNCATE guard); NULL when it was there already, else the rows moved. Only those two tables, only the first
  instant of a UTC month, at most ``MAX_MONTHS_AHEAD`` months after the database's current month.
- ``tpfgo_partition_lock(month)``: ACCESS EXCLUSIVE on the month's partitions, to the end of the caller's
  transaction (no row lands in the month while the purge judges it); their names.
- ``tpfgo_partition_drop(month, detach)``: drops (or detaches) the month's partitions and takes their open positions
  out. Only with the purge flag on, and only when none of their rows belongs to an order still in ``pipelines_trace``:
  the caller's audited purge must have removed every order of the month first, in the same transaction (with its
  record and tombstones). So it removes nothing the purge role could not delete row by row, and never part of a live
  order. The guard is the purge's own judgement, not a clock: the retention age is a setting of the nodes, and a
  cutoff the caller passed would guard nothing.

``pipelines.E045`` reports a database where one of them is missing, would not run as its owner, or PUBLIC may run.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core import checks
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from pipelines import triggers
from pipelines.models import CheckpointLog, LineageLink
from pipelines.store import open_positions

# Plain literals: no value is spliced into the functions' text, only this module's constants and fragments (hence the
# file-wide S608 exemption); the arguments reach the statements through format('%I', ...) and USING.
# ruff: noqa: S608
TABLES = tuple(model._meta.db_table for model in (CheckpointLog, LineageLink))  # pipelines.store.partitions.MODELS
MAX_MONTHS_AHEAD = 120  # ten years: what ``manage.py partitions --months`` may ask for
CREATE = "tpfgo_partition_create"
LOCK = "tpfgo_partition_lock"
DROP = "tpfgo_partition_drop"
# Each function with its argument types, as GRANT and REVOKE name it.
SIGNATURES = {
    CREATE: f"{CREATE}(text, timestamp with time zone)",
    LOCK: f"{LOCK}(timestamp with time zone)",
    DROP: f"{DROP}(timestamp with time zone, boolean)",
}
_KNOWN = "ARRAY[" + ", ".join(f"'{table}'" for table in TABLES) + "]"
_IS_MONTH = """
    IF p_start IS NULL OR p_start <> date_trunc('month', p_start) THEN
        RAISE EXCEPTION 'tpfgo: % is not the first instant of a month (UTC)', p_start
            USING ERRCODE = 'invalid_parameter_value';
    END IF;"""
# The month's partition of v_table (by its name, checked to be one of v_table's partitions), or NULL.
_PARTITION = """
        SELECT c.relname INTO v_name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = v_table::regclass AND c.relname = v_table || '_p' || to_char(p_start, 'YYYY_MM');"""
_IN_MONTH = "trace_created_at >= $1 AND trace_created_at < $2"

_CREATE = f"""
CREATE OR REPLACE FUNCTION {CREATE}(p_table text, p_start timestamptz) RETURNS bigint AS $$
DECLARE
    v_end timestamptz := p_start + interval '1 month';
    v_name text := p_table || '_p' || to_char(p_start, 'YYYY_MM');
    v_default text := p_table || '_default';
    v_bounds text;
    v_stray boolean;
    v_moved bigint := 0;
    v_flag text;
BEGIN
    IF p_table IS NULL OR NOT p_table = ANY ({_KNOWN}) THEN
        RAISE EXCEPTION 'tpfgo: % is not a table partitioned by month', p_table
            USING ERRCODE = 'invalid_parameter_value';
    END IF;{_IS_MONTH}
    IF p_start > date_trunc('month', now()) + interval '{MAX_MONTHS_AHEAD} months' THEN
        RAISE EXCEPTION 'tpfgo: % is more than {MAX_MONTHS_AHEAD} months ahead', p_start
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format('LOCK TABLE %I IN SHARE ROW EXCLUSIVE MODE', v_default);
    IF to_regclass(quote_ident(v_name)) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    v_bounds := format('FOR VALUES FROM (%L) TO (%L)', p_start, v_end);
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE {_IN_MONTH})', v_default) INTO v_stray USING p_start, v_end;
    IF NOT v_stray THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF %I %s', v_name, p_table, v_bounds);
    ELSE
        -- The default partition holds rows of this month: PostgreSQL would refuse the partition, so they move first.
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', v_name, p_table);
        EXECUTE format('INSERT INTO %I SELECT * FROM %I WHERE {_IN_MONTH}', v_name, v_default) USING p_start, v_end;
        GET DIAGNOSTICS v_moved = ROW_COUNT;
        v_flag := current_setting('tpfgo.purge', true);
        PERFORM set_config('tpfgo.purge', 'on', true);
        EXECUTE format('DELETE FROM %I WHERE {_IN_MONTH}', v_default) USING p_start, v_end;
        PERFORM set_config('tpfgo.purge', coalesce(v_flag, ''), true);
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I %s', p_table, v_name, v_bounds);
        IF p_table = '{open_positions.LOG}' THEN  -- the move's delete took their open positions out
            {open_positions.refill_statement("l.trace_created_at >= p_start AND l.trace_created_at < v_end")};
        END IF;
    END IF;
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION tpfgo_refuse_change()',
        '{triggers.PG_TRUNCATE}', v_name);
    RETURN v_moved;
END;
$$ LANGUAGE plpgsql"""

_LOCK = f"""
CREATE OR REPLACE FUNCTION {LOCK}(p_start timestamptz) RETURNS text[] AS $$
DECLARE
    v_table text;
    v_name text;
    v_names text[] := '{{}}';
BEGIN{_IS_MONTH}
    FOREACH v_table IN ARRAY {_KNOWN} LOOP{_PARTITION}
        IF v_name IS NOT NULL THEN
            EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', v_name);
            v_names := v_names || v_name;
        END IF;
    END LOOP;
    RETURN v_names;
END;
$$ LANGUAGE plpgsql"""

_DROP = f"""
CREATE OR REPLACE FUNCTION {DROP}(p_start timestamptz, p_detach boolean) RETURNS text[] AS $$
DECLARE
    v_table text;
    v_name text;
    v_live boolean;
    v_names text[] := '{{}}';
BEGIN{_IS_MONTH}
    IF current_setting('tpfgo.purge', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'tpfgo: dropping the month of % needs the purge flag', p_start
            USING ERRCODE = 'restrict_violation';
    END IF;
    PERFORM {LOCK}(p_start);
    FOREACH v_table IN ARRAY {_KNOWN} LOOP{_PARTITION}
        IF v_name IS NOT NULL THEN
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM pipelines_trace t WHERE t.number IN '
                '(SELECT trace_number FROM %I))', v_name) INTO v_live;
            IF v_live THEN
                RAISE EXCEPTION 'tpfgo: % holds rows of orders not purged: purge every order of the month first', v_name
                    USING ERRCODE = 'restrict_violation';
            END IF;
            v_names := v_names || v_name;
        END IF;
    END LOOP;
    -- A dropped table fires no delete trigger: the month's open positions go here.
    DELETE FROM {open_positions.OPEN}
        WHERE trace_created_at >= p_start AND trace_created_at < p_start + interval '1 month';
    FOREACH v_table IN ARRAY {_KNOWN} LOOP{_PARTITION}
        IF v_name IS NULL THEN
            CONTINUE;
        ELSIF p_detach THEN
            EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', v_table, v_name);
        ELSE
            EXECUTE format('DROP TABLE %I', v_name);
        END IF;
    END LOOP;
    RETURN v_names;
END;
$$ LANGUAGE plpgsql"""

FUNCTIONS = {CREATE: _CREATE, LOCK: _LOCK, DROP: _DROP}


def _partitioned(connection: BaseDatabaseWrapper) -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_class WHERE relname = ANY(%s) AND relkind = 'p' "
            "AND relnamespace = current_schema()::regnamespace",
            [list(TABLES)],
        )
        (count,) = cursor.fetchone()
    return int(count) == len(TABLES)


def install(connection: BaseDatabaseWrapper) -> bool:
    """(Re)make the functions as this connection's role (the owner: ``migrate`` runs as it) and take PUBLIC's
    EXECUTE away; the grants a role was given stay (``CREATE OR REPLACE`` keeps them). Nothing on SQLite, or before
    the log and the lineage are partitioned."""
    if not _partitioned(connection):
        return False
    definer = triggers.definer(connection) + " SET TimeZone = 'UTC'"
    with connection.cursor() as cursor:
        for name, function in FUNCTIONS.items():
            cursor.execute(function + definer)
            cursor.execute(f"REVOKE ALL ON FUNCTION {SIGNATURES[name]} FROM PUBLIC")
    return True


def installed(connection: BaseDatabaseWrapper) -> list[str]:
    """The names of the functions this database has (PostgreSQL), in ``FUNCTIONS``' order."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT proname FROM pg_proc WHERE proname = ANY(%s) AND pronamespace = current_schema()::regnamespace",
            [list(FUNCTIONS)],
        )
        have = {row[0] for row in cursor.fetchall()}
    return [name for name in FUNCTIONS if name in have]


def missing(connection: BaseDatabaseWrapper) -> list[str]:
    """What is wrong with the functions on this database: each one absent, not run as its owner with a pinned
    ``search_path``, or executable by PUBLIC. Nothing on SQLite or before the tables are partitioned."""
    if not _partitioned(connection):
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.proname, p.prosecdef AND EXISTS (SELECT 1 FROM unnest(p.proconfig) c "
            "WHERE c LIKE 'search_path=%%'), has_function_privilege('public', p.oid, 'EXECUTE') FROM pg_proc p "
            "WHERE p.proname = ANY(%s) AND p.pronamespace = current_schema()::regnamespace",
            [list(FUNCTIONS)],
        )
        found = {name: (definer, public) for name, definer, public in cursor.fetchall()}
    problems = []
    for name in FUNCTIONS:
        if name not in found:
            problems.append(f"{name}() is missing")
        elif not found[name][0]:
            problems.append(f"{name}() would not run as its owner")
        elif found[name][1]:
            problems.append(f"{name}() may be run by PUBLIC")
    return problems


def check(
    app_configs: object = None, databases: Sequence[str] | None = None, **kwargs: object
) -> list[checks.CheckMessage]:
    """System check (database tag): the partition functions are in place on every database checked."""
    problems: list[checks.CheckMessage] = []
    for alias in databases or []:
        wrong = missing(connections[alias])
        if wrong:
            problems.append(
                checks.Error(
                    f"partition functions on {alias}: {'; '.join(wrong)}",
                    hint="Run 'manage.py migrate' as the owner (it makes them), then 'manage.py setup_db_roles'.",
                    id="pipelines.E045",
                )
            )
    return problems
