"""Which half of the store speaks to a connection: ``postgres`` or ``sqlite``, chosen from the connection's vendor.

Every statement that differs between the two databases lives in one of the halves; the rest of the store asks
``half(connection)`` and never tests the vendor itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from django.db.backends.base.base import BaseDatabaseWrapper

from pipelines.store import postgres, sqlite
from pipelines.store.fast import Row, Table
from pipelines.store.rows import Dependent


class Half(Protocol):
    """What each vendor half offers (``pipelines/store/postgres.py``, ``pipelines/store/sqlite.py``)."""

    VENDOR: str
    ONE_STATEMENT: bool  # a step's rows go in with one statement (its own transaction)
    CONCURRENT_WRITERS: bool  # log seqs may commit out of order (several writers at once)

    def insert_batch(
        self, connection: BaseDatabaseWrapper, checkpoints: Mapping[Table, list[Row]], dependents: Sequence[Dependent]
    ) -> set[Any]: ...

    def fetch(self, connection: BaseDatabaseWrapper, sql: str, params: Sequence[Any]) -> list[Any]: ...

    def seqs_issued(self, connection: BaseDatabaseWrapper, table: str, column: str) -> int: ...

    def transaction_aborted(self, connection: BaseDatabaseWrapper) -> bool: ...

    def read_together(
        self, connection: BaseDatabaseWrapper, statements: Sequence[tuple[str, list[Any]]]
    ) -> list[list[Any]]: ...


_HALVES: dict[str, Half] = {postgres.VENDOR: postgres, sqlite.VENDOR: sqlite}


def half(connection: BaseDatabaseWrapper) -> Half:
    try:
        return _HALVES[connection.vendor]
    except KeyError:
        raise NotImplementedError(f"the store speaks PostgreSQL and SQLite, not {connection.vendor}") from None


def insert_batch(
    connection: BaseDatabaseWrapper, checkpoints: Mapping[Table, list[Row]], dependents: Sequence[Dependent]
) -> set[Any]:
    """Insert checkpoints, ignoring conflicts, and their dependent rows only for those inserted; return the
    prepared ids of the checkpoints actually inserted (one statement on PostgreSQL)."""
    checkpoints = {tbl: rows for tbl, rows in checkpoints.items() if rows}
    if not checkpoints:
        return set()
    return half(connection).insert_batch(connection, checkpoints, [d for d in dependents if d.rows])
