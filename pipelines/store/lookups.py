"""Exact-match look-ups whose SQL is built once (``pipelines.store.fast``: the ORM compiles its query again on
every call); on PostgreSQL the statement is also prepared once per connection. Only equality filters on concrete
columns (``pk`` names the primary key); anything else stays with the ORM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from django.db import connections, router
from django.db.models import Model

from pipelines.store import fast
from pipelines.store.vendor import half

M = TypeVar("M", bound=Model)


def rows(model: type[M], *, order_by: Sequence[str] = (), limit: int | None = None, **equals: Any) -> list[M]:
    """``model.objects.filter(**equals).order_by(*order_by)[:limit]`` for equality filters, without compiling."""
    alias = router.db_for_read(model)
    connection = connections[alias]
    statement = fast.lookup(model, tuple(equals), tuple(order_by), limit, connection)
    with half(connection).read_cursor(connection) as cursor:
        cursor.execute(statement.sql, statement.params(equals, connection))
        fetched = cursor.fetchall()
    return fast.instances(model, statement, fetched, alias, connection)


# One look-up of ``rows_together``: ``rows(model, order_by=order_by, limit=limit, **equals)``.
LookUp = tuple[type[Model], Mapping[str, Any], Sequence[str], int | None]


def rows_together(*queries: LookUp) -> list[list[Any]]:
    """``rows`` of each ``(model, equals, order_by, limit)``, all read in one round trip on PostgreSQL (pipelined).
    The models must live in one database."""
    alias = router.db_for_read(queries[0][0])
    if any(router.db_for_read(model) != alias for model, *_ in queries):
        raise ValueError("rows_together(): the models live in different databases")
    connection = connections[alias]
    statements = [
        fast.lookup(model, tuple(equals), tuple(order_by), limit, connection)
        for model, equals, order_by, limit in queries
    ]
    fetched = half(connection).read_together(
        connection, [(s.sql, s.params(q[1], connection)) for s, q in zip(statements, queries, strict=True)]
    )
    return [
        fast.instances(q[0], s, rows, alias, connection)
        for s, q, rows in zip(statements, queries, fetched, strict=True)
    ]


def first(model: type[M], *, order_by: Sequence[str] = (), **equals: Any) -> M | None:
    found = rows(model, order_by=order_by, limit=1, **equals)
    return found[0] if found else None


# ``exist``'s statements: one per (models and filtered columns, vendor), built once.
_exists: dict[tuple[Any, ...], tuple[str, list[fast.Lookup]]] = {}


def exist(*probes: tuple[type[Model], Mapping[str, Any]]) -> tuple[bool, ...]:
    """Whether each exact-match look-up finds a row, all in one round trip (``SELECT EXISTS (…), EXISTS (…)``).

    The models must live in one database."""
    alias = router.db_for_read(probes[0][0])
    if any(router.db_for_read(model) != alias for model, _ in probes):
        raise ValueError("exist(): the models live in different databases")
    connection = connections[alias]
    key = (tuple((model, tuple(equals)) for model, equals in probes), connection.vendor)
    known = _exists.get(key)
    if known is None:
        qn = connection.ops.quote_name
        statements, tests = [], []
        for model, equals in probes:
            statement = fast.lookup(model, tuple(equals), (), 1, connection)  # its filters prepare the values
            table = qn(model._meta.db_table)
            where = " AND ".join(f"{table}.{qn(str(f.column))} = %s" for f in statement.filters)
            statements.append(statement)
            tests.append(f"EXISTS (SELECT 1 FROM {table} WHERE {where})")  # noqa: S608 (names from metadata)
        sql = "SELECT " + ", ".join(tests)
        known = _exists[key] = (sql, statements)
    sql, statements = known
    params = [p for s, (_, equals) in zip(statements, probes, strict=True) for p in s.params(equals, connection)]
    with half(connection).read_cursor(connection) as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchone()
    return tuple(bool(value) for value in found)
