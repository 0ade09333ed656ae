"""The store's SQLite half: a step's rows as one multi-row INSERT per table, with the driver's own placeholders.

Checkpoints go in with ``ON CONFLICT DO NOTHING RETURNING id``; their dependent rows only for those inserted
(the step's ``atomic(durable=True)`` holds them together). Table and column names come from model metadata,
quoted by the backend; values are always bound as parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from pipelines.store.fast import Row, Table, values_sql
from pipelines.store.rows import Dependent

VENDOR = "sqlite"
ONE_STATEMENT = False  # a step's rows in one statement, its own transaction in autocommit
CONCURRENT_WRITERS = False  # log seqs may become visible out of order

# SQLite allows 32766 bound variables per statement (3.32+); stay well below it.
MAX_VARS = 30000


def insert_batch(
    connection: BaseDatabaseWrapper, checkpoints: Mapping[Table, list[Row]], dependents: Sequence[Dependent]
) -> set[Any]:
    """The checkpoints (conflicts skipped), then the dependents of those inserted; the inserted prepared ids."""
    inserted: set[Any] = set()
    cursor, mark = qmark_cursor(connection)
    with cursor:
        for tbl, rows in checkpoints.items():
            for sql, params in _inserts(tbl, rows, mark, ignore_conflicts=True, returning=True):
                cursor.execute(sql, params)
                inserted.update(row[0] for row in cursor.fetchall())
        everything = len(inserted) == sum(map(len, checkpoints.values()))  # the usual case: nothing to leave out
        for dep in dependents:
            at = dep.table.index(dep.key)
            rows = dep.rows if everything else [row for row in dep.rows if row[at] in inserted]
            for sql, params in _inserts(dep.table, rows, mark, ignore_conflicts=dep.ignore_conflicts):
                cursor.execute(sql, params)
    return inserted


def read_together(connection: BaseDatabaseWrapper, statements: Sequence[tuple[str, list[Any]]]) -> list[list[Any]]:
    """Every statement's rows, one statement after the other (an in-process database has no round trip to save)."""
    out = []
    for sql, params in statements:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            out.append(cursor.fetchall())
    return out


def fetch(connection: BaseDatabaseWrapper, sql: str, params: Sequence[Any]) -> list[Any]:
    """One statement's rows, on Django's cursor (the driver keeps its statements by text)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def transaction_aborted(connection: BaseDatabaseWrapper) -> bool:
    """An error inside a transaction leaves it usable on SQLite: nothing to wait for."""
    return False


def seqs_issued(connection: BaseDatabaseWrapper, table: str, column: str) -> int:
    """The highest ``column`` value ever given to a row of ``table`` (its ``AUTOINCREMENT`` key, the table's only
    one: SQLite keeps it in ``sqlite_sequence``, whatever was deleted since); 0 when none was."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        found = cursor.fetchone()
    return int(found[0]) if found else 0


def _inserts(
    tbl: Table, rows: list[Row], mark: str, *, ignore_conflicts: bool, returning: bool = False
) -> Iterable[tuple[str, list[Any]]]:
    """``rows`` as multi-row INSERTs (statement, flat parameters), each under SQLite's bound-value limit."""
    size = max(1, MAX_VARS // len(tbl.fields))
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        yield _insert(tbl, len(chunk), mark, ignore_conflicts, returning), list(chain.from_iterable(chunk))


@functools.lru_cache(maxsize=256)
def _insert(tbl: Table, count: int, mark: str, ignore_conflicts: bool, returning: bool) -> str:
    """A multi-row INSERT of ``count`` rows, remembered: the rows of a batch step go in with one statement per
    table (SQLite runs one ``VALUES`` list faster than ``executemany``'s statement per row), and the same text
    comes back for every batch of the same size (the driver's statement cache finds it by its text)."""
    sql = values_sql(tbl, count, mark)
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    return sql + " RETURNING id" if returning else sql


def qmark_cursor(connection: BaseDatabaseWrapper) -> tuple[Any, str]:
    """A SQLite cursor that takes the driver's own ``?`` placeholders, and the placeholder to write.

    Django's SQLite cursor rewrites every statement's ``%s`` into ``?`` with a regular expression, over the whole
    text: a batch's multi-row insert is tens of kilobytes. So the store writes its statements with ``?`` for the
    driver's cursor in Django's wrapper (execute wrappers run, database errors are translated). While queries are
    logged (``DEBUG``, tests counting statements), Django's own cursor and ``%s``: its log renders ``%s``.
    """
    if connection.queries_logged:
        return connection.cursor(), "%s"
    connection.ensure_connection()
    connection.validate_thread_sharing()
    return connection.make_cursor(connection.connection.cursor()), "?"
