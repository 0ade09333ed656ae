"""Exact-match look-ups whose SQL is built once (``pipelines.store.fast``: the ORM compiles its query again on
every call); on PostgreSQL the statement is also prepared once per connection. Only equality filters on concrete
columns (``pk`` names the primary key); anything else stays with the ORM.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def first(model: type[M], *, order_by: Sequence[str] = (), **equals: Any) -> M | None:
    found = rows(model, order_by=order_by, limit=1, **equals)
    return found[0] if found else None
