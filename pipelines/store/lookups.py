"""Exact-match look-ups whose SQL is built once (``pipelines.store.fast``: the ORM compiles its query again on
every call); on PostgreSQL the statement is also prepared once per connection. Only equality filters on concrete
columns (``pk`` names the primary key); anything else stays with the ORM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from django.db import connections, router
from django.db.models import Model

from pipelines.store import fast, reads
from pipelines.store.vendor import half

M = TypeVar("M", bound=Model)


def rows(model: type[M], *, order_by: Sequence[str] = (), limit: int | None = None, **equals: Any) -> list[M]:
    """``model.objects.filter(**equals).order_by(*order_by)[:limit]`` for equality filters, without compiling."""
    alias = router.db_for_read(model)
    connection = connections[alias]
    statement = fast.lookup(model, tuple(equals), tuple(order_by), limit, connection)
    fetched = half(connection).fetch(connection, statement.sql, statement.params(equals, connection))
    return fast.instances(model, statement, fetched, alias, connection)


# One look-up of ``rows_together``: ``rows(model, order_by=order_by, limit=limit, **equals)``.
LookUp = tuple[type[Model], Mapping[str, Any], Sequence[str], int | None]


def rows_together(*queries: LookUp) -> list[list[Any]]:
    """``rows`` of each ``(model, equals, order_by, limit)``, all read in one round trip on PostgreSQL (pipelined).
    The models must live in one database. Look-ups waiting in the request's read scope (``read_along``) on the same
    database go with them."""
    alias = router.db_for_read(queries[0][0])
    if any(router.db_for_read(model) != alias for model, *_ in queries):
        raise ValueError("rows_together(): the models live in different databases")
    scope = reads.current()
    riders: list[Along] = []
    if scope is not None and scope.along:
        riders = [r for r in scope.along if r.alias == alias]
        scope.along = [r for r in scope.along if r.alias != alias]
    every = [*queries, *(q for rider in riders for q in rider.queries)]
    connection = connections[alias]
    statements = [
        fast.lookup(model, tuple(equals), tuple(order_by), limit, connection)
        for model, equals, order_by, limit in every
    ]
    fetched = half(connection).read_together(
        connection, [(s.sql, s.params(q[1], connection)) for s, q in zip(statements, every, strict=True)]
    )
    found = [
        fast.instances(q[0], s, rows, alias, connection) for s, q, rows in zip(statements, every, fetched, strict=True)
    ]
    start = len(queries)
    for rider in riders:
        rider.found, start = found[start : start + len(rider.queries)], start + len(rider.queries)
    return found[: len(queries)]


class Along:
    """Look-ups that ride with the request's next ``rows_together`` on their database (a round trip less), or are
    read on their own when their rows are asked for first."""

    def __init__(self, queries: Sequence[LookUp]) -> None:
        self.queries = tuple(queries)
        self.alias = router.db_for_read(self.queries[0][0])
        self.found: list[list[Any]] | None = None

    def rows(self) -> list[list[Any]]:
        if self.found is None:
            scope = reads.current()
            if scope is not None and self in scope.along:
                scope.along.remove(self)
            self.found = rows_together(*self.queries)
        return self.found


def read_along(*queries: LookUp) -> Along:
    """``rows_together(*queries)``, sent with the read scope's next group of look-ups if one comes before the rows
    are asked for (``Along.rows()``); without a scope, read when asked for."""
    along = Along(queries)
    scope = reads.current()
    if scope is not None:
        scope.along.append(along)
    return along


def first(model: type[M], *, order_by: Sequence[str] = (), **equals: Any) -> M | None:
    found = rows(model, order_by=order_by, limit=1, **equals)
    return found[0] if found else None
