"""Exact-match look-ups whose SQL is built once: the ORM compiles its query again on every call.

The hot path of an item reads a handful of rows by key (a fact by business key, reference rows, the trace's
log). Compiling each of those ORM querysets costs more than the database's answer, so ``rows()`` keeps the
statement per (model, filtered columns, ordering, limit) and builds instances exactly as the ORM does: values
prepared with the field's ``get_db_prep_value``, results passed through the backend's and the field's
converters, then ``Model.from_db``; on PostgreSQL the statement is prepared once per connection. Only
equality filters on concrete columns (``pk`` names the primary key); anything else stays with the ORM.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

from pipelines.store import sqlbulk

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class _Statement:
    sql: str
    filters: tuple[Field[Any, Any], ...]
    attnames: tuple[str, ...]
    converters: tuple[tuple[int, tuple[Callable[..., Any], ...], Any], ...]  # (position, converters, column)


_statements: dict[tuple[Any, ...], _Statement] = {}


def rows(model: type[M], *, order_by: Sequence[str] = (), limit: int | None = None, **equals: Any) -> list[M]:
    """``model.objects.filter(**equals).order_by(*order_by)[:limit]`` for equality filters, without compiling."""
    alias = router.db_for_read(model)
    connection = connections[alias]
    key = (model, tuple(equals), tuple(order_by), limit, connection.vendor)
    statement = _statements.get(key)
    if statement is None:
        statement = _statements[key] = _compile(model, tuple(equals), tuple(order_by), limit, connection)
    params = [f.get_db_prep_value(equals[name], connection) for f, name in zip(statement.filters, equals, strict=True)]
    # PostgreSQL: prepared once per connection, like the engine's inserts (planning cost more than the answer).
    opened = sqlbulk.bound_cursor(connection) if connection.vendor == "postgresql" else connection.cursor()
    with opened as cursor:
        cursor.execute(statement.sql, params)
        fetched = cursor.fetchall()
    found = []
    for raw in fetched:
        values = list(raw)
        for position, converters, column in statement.converters:
            value = values[position]
            for convert in converters:
                value = convert(value, column, connection)
            values[position] = value
        found.append(model.from_db(alias, statement.attnames, values))
    return found


def first(model: type[M], *, order_by: Sequence[str] = (), **equals: Any) -> M | None:
    found = rows(model, order_by=order_by, limit=1, **equals)
    return found[0] if found else None


def _compile(
    model: type[Model],
    names: tuple[str, ...],
    order_by: tuple[str, ...],
    limit: int | None,
    connection: BaseDatabaseWrapper,
) -> _Statement:
    qn = connection.ops.quote_name
    meta = model._meta
    table = qn(meta.db_table)
    fields = meta.concrete_fields
    filters = tuple(_field(model, name) for name in names)
    where = " AND ".join(f"{table}.{qn(str(f.column))} = %s" for f in filters)
    ordering = []
    for name in order_by or [str(o) for o in meta.ordering or ()]:
        descending = name.startswith("-")
        field = _field(model, name.lstrip("-"))
        ordering.append(f"{table}.{qn(str(field.column))}{' DESC' if descending else ' ASC'}")
    sql = f"SELECT {', '.join(f'{table}.{qn(str(f.column))}' for f in fields)} FROM {table}"  # noqa: S608
    if where:
        sql += f" WHERE {where}"
    if ordering:
        sql += " ORDER BY " + ", ".join(ordering)
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    converters = []
    for position, field in enumerate(fields):
        column = field.get_col(meta.db_table)
        found = tuple(connection.ops.get_db_converters(column)) + tuple(field.get_db_converters(connection))
        if found:
            converters.append((position, found, column))
    return _Statement(sql, filters, tuple(f.attname for f in fields), tuple(converters))


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    meta = model._meta
    field = meta.pk if name == "pk" else meta.get_field(name)
    if not isinstance(field, Field) or not field.concrete:
        raise ValueError(f"{model.__name__}.{name} is not a concrete column")
    return field
