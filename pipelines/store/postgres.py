"""The store's PostgreSQL half: a step's rows in one statement, and statements prepared once per connection.

``insert_batch`` writes checkpoints with ``ON CONFLICT DO NOTHING RETURNING id`` and, in the same statement
(chained data-modifying CTEs), the rows that depend on them only for the checkpoints actually inserted: one round
trip for one item or for a batch, and a conflict never aborts the transaction. A few rows are listed as scalars
(``VALUES``); more go as one array per column (``UNNEST``), so a batch's text is the same whatever its size.
The arrays travel in the binary format: the text format escapes and quotes every element in Python (a regular
expression per text value), which took more time than the server's work on the batch (docs/performance.md).

A batch (more than ``COPY_ROWS`` checkpoints) first goes in by binary ``COPY``, one per table, under a savepoint
of the step's transaction (or in a transaction of its own): the way the floor writes, with the rows dumped by
psycopg's C code and no conflict handling on the server. It is all or nothing: a unique conflict (a replay, a race
lost to another writer) rolls the savepoint back and the batch goes in by the statement above, which skips the
conflicting checkpoints and what hangs on them. Either way the same rows are stored (docs/performance.md "The
batch by COPY").

Table and column names come from model metadata, quoted by the backend (hence the ``S608`` suppressions); values
are always bound as parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

import psycopg
import structlog
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, NotSupportedError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.base import CursorDebugWrapper, ServerBindingCursor
from django.db.backends.utils import CursorWrapper
from psycopg._queries import PostgresQuery, _query2pg_nocache

from pipelines.contracts.errors import RetryableError
from pipelines.store import durability
from pipelines.store.fast import Row, Table
from pipelines.store.rows import Dependent

log = structlog.get_logger("pipelines.store")

VENDOR = "postgresql"
ONE_STATEMENT = True  # a step's rows in one statement, its own transaction in autocommit
CONCURRENT_WRITERS = True  # log seqs may become visible out of order

# Up to this many rows per table, the statement lists them (``VALUES``); beyond, it takes one array per column.
_VALUES_ROWS = 8

# More checkpoints than this in one call: binary COPY first (``_copy``); below it the statement's one round trip wins.
COPY_ROWS = 64

# A statement's text depends only on its shape: the checkpoint tables and the dependent tables (with the column
# naming their checkpoint and whether their conflicts are ignored), each with its row count if its rows are listed.
Shape = tuple[tuple[tuple[Table, int], ...], tuple[tuple[Table, int, str, bool], ...]]
_statements: dict[Shape, str] = {}


def insert_batch(
    connection: BaseDatabaseWrapper, checkpoints: Mapping[Table, list[Row]], dependents: Sequence[Dependent]
) -> set[Any]:
    """One statement: the checkpoints (conflicts skipped), then their dependents; the inserted prepared ids."""
    if sum(map(len, checkpoints.values())) > COPY_ROWS:
        copied = _copy(connection, checkpoints, dependents)
        if copied is not None:
            return copied
    shape: Shape = (
        tuple((tbl, _count(rows)) for tbl, rows in checkpoints.items()),
        tuple((d.table, _count(d.rows), d.key, d.ignore_conflicts) for d in dependents),
    )
    sql = _statements.get(shape)
    if sql is None:
        sql = _statements[shape] = _statement(connection, shape)
    params: list[Any] = []
    for rows in checkpoints.values():
        params.extend(_source_params(rows))
    for dep in dependents:
        params.extend(_source_params(dep.rows))
    return {row[0] for row in fetch(connection, sql, params)}


def _copy(
    connection: BaseDatabaseWrapper, checkpoints: Mapping[Table, list[Row]], dependents: Sequence[Dependent]
) -> set[Any] | None:
    """Every row by binary ``COPY`` (checkpoints first, then what hangs on them, each table's rows in order: log
    rows take their ``seq`` in that order); the prepared ids, or ``None`` if a row met a stored unique row (the
    savepoint is rolled back: nothing of the attempt stays)."""
    sources = [*checkpoints.items(), *((d.table, d.rows) for d in dependents)]
    try:
        with transaction.atomic(using=connection.alias), connection.wrap_database_errors:
            before = durability.ahead_of(connection.alias)
            if before:
                durability.send(connection.connection, before)
            with connection.connection.cursor() as cursor:
                for tbl, rows in sources:
                    with cursor.copy(f"COPY {tbl.name} {tbl.columns} FROM STDIN (FORMAT BINARY)") as copy:
                        copy.set_types(_copy_types(tbl))
                        for row in rows:
                            copy.write_row(row)
    except IntegrityError:
        return None
    return {row[tbl.pk_index] for tbl, rows in checkpoints.items() for row in rows}


def _copy_types(tbl: Table) -> list[str]:
    """The column types binary ``COPY`` sends, by name (``varchar(36)`` is sent as ``varchar``: the server applies
    the column's length on receipt)."""
    return [t[:-2].split("(", 1)[0] for t in tbl.array_types]


def read_together(connection: BaseDatabaseWrapper, statements: Sequence[tuple[str, list[Any]]]) -> list[list[Any]]:
    """Every statement's rows, in one round trip: psycopg's pipeline mode sends them all before it reads the
    first answer (each is still its own statement, prepared like the others)."""
    if len(statements) == 1:
        return [fetch(connection, *statements[0])]
    try:
        return _read_together(connection, statements)
    except NotSupportedError as exc:
        # In pipeline mode the error comes at its end; outside a transaction nothing else drops the stale statements.
        stale = exc.__cause__
        if not isinstance(stale, psycopg.errors.FeatureNotSupported) or not _stale_plan(stale):
            raise
        if not _may_run_again(connection.connection):
            raise StalePlan(str(stale)) from exc
    _forget_prepared(connection.connection)
    return _read_together(connection, statements)


def _read_together(connection: BaseDatabaseWrapper, statements: Sequence[tuple[str, list[Any]]]) -> list[list[Any]]:
    cursors = [bound_cursor(connection) for _ in statements]
    try:
        with connection.wrap_database_errors, connection.connection.pipeline():
            for cursor, (sql, params) in zip(cursors, statements, strict=True):
                cursor.execute(sql, params)
        return [cursor.fetchall() for cursor in cursors]
    finally:
        for cursor in cursors:
            cursor.close()


def fetch(connection: BaseDatabaseWrapper, sql: str, params: Sequence[Any]) -> list[Any]:
    """One statement's rows (the store's inserts and look-ups), prepared once per connection like the others.

    It runs on the session's own cursor, made once per database session and executed again for every statement
    (its rows are fetched before the next one): a new cursor per statement cost more CPU than psycopg's own
    execution of a small prepared statement (docs/performance.md). Django's wrapper still runs it, so execute
    wrappers, query logging and error translation see the statement as on any other cursor.
    """
    cursor = _session_cursor(connection)
    cursor.execute(sql, params)
    with connection.wrap_database_errors:
        return cursor.cursor.fetchall()  # type: ignore[no-any-return]


def transaction_aborted(connection: BaseDatabaseWrapper) -> bool:
    """An error aborted the transaction open on this connection: no statement runs in it until it ends."""
    raw = connection.connection
    return raw is not None and raw.info.transaction_status == psycopg.pq.TransactionStatus.INERROR


def seqs_issued(connection: BaseDatabaseWrapper, table: str, column: str) -> int:
    """The highest value ``table.column``'s sequence ever handed out (committed, in flight or rolled back; the row
    kept or deleted since); 0 when it handed out none."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, %s)::regclass)", [table, column])
        found = cursor.fetchone()
    return int(found[0]) if found and found[0] is not None else 0


def _count(rows: list[Any]) -> int:
    return len(rows) if len(rows) <= _VALUES_ROWS else _VALUES_ROWS + 1  # arrays: any size, one text


def _source_sql(tbl: Table, count: int, ordinal: bool) -> str:
    """A typed row source for ``count`` rows: ``(VALUES …)`` for a few rows, ``UNNEST(arrays)`` for many.
    With ``ordinal`` the source has a last column numbering the rows from 1."""
    if count > _VALUES_ROWS:  # binary arrays (``%b``): psycopg's text format quotes every element in Python
        casts = ", ".join(f"%b::{t}" for t in tbl.array_types)
        return f"UNNEST({casts}) WITH ORDINALITY" if ordinal else f"UNNEST({casts})"
    casts = ", ".join(f"%s::{t[:-2]}" for t in tbl.array_types)
    one = [f"({casts}, {n})" if ordinal else f"({casts})" for n in range(1, count + 1)]
    return f"(VALUES {', '.join(one)})"


def _source_params(rows: list[Row]) -> list[Any]:
    if len(rows) > _VALUES_ROWS:
        return [list(col) for col in zip(*rows, strict=True)]
    return list(chain.from_iterable(rows))


def _statement(connection: BaseDatabaseWrapper, shape: Shape) -> str:
    qn = connection.ops.quote_name
    heads, deps = shape
    ctes, names = [], []
    for n, (tbl, count) in enumerate(heads):
        ctes.append(
            f"ins{n} AS (INSERT INTO {tbl.name} {tbl.columns} "  # noqa: S608
            f"SELECT * FROM {_source_sql(tbl, count, False)} AS u ON CONFLICT DO NOTHING RETURNING id)"
        )
        names.append(f"ins{n}")
    inserted = " UNION ALL ".join(f"SELECT id FROM {name}" for name in names)  # noqa: S608
    for n, (tbl, count, key_attname, ignore_conflicts) in enumerate(deps):
        alias = "(" + ", ".join(qn(str(f.column)) for f in tbl.fields) + ", tpfgo_ord)"
        key = qn(str(tbl.fields[tbl.index(key_attname)].column))
        conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
        ctes.append(
            f"dep{n} AS (INSERT INTO {tbl.name} {tbl.columns} "  # noqa: S608
            f"SELECT {', '.join('u.' + qn(str(f.column)) for f in tbl.fields)} "
            f"FROM {_source_sql(tbl, count, True)} AS u{alias} WHERE u.{key} IN ({inserted}) "
            f"ORDER BY u.tpfgo_ord{conflict})"
        )
    return "WITH " + ", ".join(ctes) + " " + inserted


def _session_cursor(connection: BaseDatabaseWrapper) -> Any:
    """``bound_cursor``'s, on the session's one raw cursor (made again after a reconnect or a close)."""
    connection.ensure_connection()
    session = connection.connection
    raw = getattr(connection, "_tpfgo_cursor", None)
    if raw is None or raw.connection is not session or raw.closed:
        with connection.wrap_database_errors:
            raw = _PreparingCursor(session)
        connection._tpfgo_cursor = raw  # type: ignore[attr-defined]
    return _wrapped(connection, raw)


def bound_cursor(connection: BaseDatabaseWrapper) -> Any:
    """A cursor that binds parameters on the server and prepares its statements (psycopg 3).

    Django's default cursor binds parameters on the client: it renders every array of the batch statement as
    SQL text, and the server parses and plans the statement every time. The store's statements have a fixed
    text, so each is prepared once per connection and each later execution sends only its values.
    ``TPFGO_PREPARED_STATEMENTS=0`` turns preparing off (for a connection pooler that cannot keep prepared
    statements); the parameters are still bound on the server. The cursor goes through Django's wrappers, so
    query logging and execute wrappers see the statement.
    """
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = _PreparingCursor(connection.connection)
    return _wrapped(connection, raw)


def _wrapped(connection: BaseDatabaseWrapper, raw: _PreparingCursor) -> Any:
    connection.validate_thread_sharing()
    prepare = bool(getattr(settings, "TPFGO_PREPARED_STATEMENTS", True))
    if prepare and connection.connection.prepare_threshold is None:
        # Django turns psycopg's automatic preparing off (None), which also refuses an explicit prepare=True.
        # A threshold no statement reaches keeps Django's own queries unprepared and lets this cursor prepare.
        connection.connection.prepare_threshold = 2**31 - 1
    raw.tpfgo_prepare = prepare
    raw.tpfgo_alias = connection.alias
    if connection.queries_logged:
        return _StatementDebugWrapper(raw, connection)
    return connection.make_cursor(raw)


# Django's backend classes, untyped here: the stubs do not describe psycopg's cursor constructor and keywords.
_ServerBindingCursor: Any = ServerBindingCursor
_CursorDebugWrapper: Any = CursorDebugWrapper
_CursorWrapper: Any = CursorWrapper


# The store's statement texts, parsed for psycopg (placeholders to ``$n``), by text and encoding.
_parsed: dict[tuple[str, str], Any] = {}


class _StoreQuery(PostgresQuery):
    """psycopg keeps the parse of a statement only up to 50 parameters; the store parses each of its statements
    (a fixed, small set of texts: ``_statements`` and the look-ups) once per process, whatever its size."""

    def convert(self, query: Any, vars: Any) -> None:
        if vars is None or type(query) is not str:
            return super().convert(query, vars)
        encoding = self._tx.encoding
        parsed = _parsed.get((query, encoding))
        if parsed is None:
            parsed = _parsed[query, encoding] = _query2pg_nocache(query.encode(encoding), encoding)
        self.query, self._want_formats, self._order, self._parts = parsed
        self.dump(vars)
        return None


class _PreparingCursor(_ServerBindingCursor):  # type: ignore[misc]
    _query_cls = _StoreQuery
    tpfgo_prepare = True
    tpfgo_alias = DEFAULT_DB_ALIAS  # whose statements to send first, in the same round trip (``durability.ahead_of``)

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        try:
            return self._execute(query, params, **kwargs)
        except psycopg.errors.FeatureNotSupported as exc:
            if not _stale_plan(exc):
                raise
            if not _may_run_again(self.connection):
                raise StalePlan(str(exc)) from exc
        # A migration changed the type of a column this statement returns, after this connection prepared it (a
        # node serving through another's migrate). The server refuses the prepared statement from then on, on every
        # run: drop this connection's prepared statements and run it again, prepared anew.
        _forget_prepared(self.connection)
        return self._execute(query, params, **kwargs)

    def _execute(self, query: str, params: Sequence[Any] | None = None, **kwargs: object) -> Any:
        before = durability.ahead_of(self.tpfgo_alias)
        if not before:
            return super().execute(query, params, prepare=self.tpfgo_prepare or None, **kwargs)
        with durability.sending(self.connection, before):
            return super().execute(query, params, prepare=self.tpfgo_prepare or None, **kwargs)


_STALE_PLAN = "cached plan must not change result type"


class StalePlan(RetryableError, NotSupportedError):
    """A statement prepared before a migration changed the type of a column it returns, refused inside a
    transaction: the error aborted it, so the statement cannot simply run again. The transaction's rollback drops
    the connection's prepared statements (psycopg deallocates them all on any ``ROLLBACK`` it sees pass, a
    savepoint's too), so the work done again after it succeeds: the engine redoes the step's transaction (or the
    pipeline's) once, with no error-sink entry; a failure that still reaches the sink is retried like any transient
    one. Refused in a caller's open transaction outside the engine's savepoint (a step's replay look-up), it goes to
    the caller, whose rollback drops them (docs/operations.md, ``STALE_PLAN``)."""

    code = "STALE_PLAN"


def _stale_plan(exc: psycopg.errors.FeatureNotSupported) -> bool:
    """Whether ``exc`` is the server refusing a statement prepared before a column it returns changed type."""
    return exc.diag.message_primary == _STALE_PLAN


def _may_run_again(session: psycopg.Connection[Any]) -> bool:
    """The session is outside any transaction and pipeline, where running the statement again is safe."""
    return (
        session.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        and session.pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF
    )


def _forget_prepared(session: psycopg.Connection[Any]) -> None:
    log.warning("store.prepared_statements_reset", reason=_STALE_PLAN)
    session.execute("DEALLOCATE ALL")  # psycopg forgets its own on seeing the command pass


class _StatementDebugWrapper(_CursorDebugWrapper):  # type: ignore[misc]
    """Logs the statement's text: a prepared execution leaves psycopg no query text to report."""

    def execute(self, sql: Any, params: Any = None) -> Any:
        with self.debug_sql(sql, params, use_last_executed_query=False):
            return _CursorWrapper.execute(self, sql, params)
