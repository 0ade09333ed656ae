"""Bulk SQL for insert-only rows: prepared column lists and the statements that write a step's rows.

The ORM's ``save()`` compiles a statement per row; a step writes a handful of rows per item (its checkpoints,
their owned child rows, lineage links, log rows), so this module prepares each table once and writes:

- for one item (``insert_together``): every row in one round trip on PostgreSQL (one statement of chained
  data-modifying CTEs), one multi-row INSERT per table on SQLite. A conflict raises ``IntegrityError``.
- for a batch (``insert_batch``): checkpoints with ``ON CONFLICT DO NOTHING RETURNING id``, and the rows that
  depend on them only for the checkpoints actually inserted. PostgreSQL gets one statement per batch
  (arrays through ``UNNEST``), SQLite one INSERT per model plus ``executemany`` for the dependent rows.

Values are prepared exactly as the ORM would (``pre_save`` then ``get_db_prep_save``) and always bound as
parameters; table and column names come from model metadata, quoted by the backend (hence the ``S608``
suppressions).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

# SQLite allows 32766 bound variables per statement (3.32+); stay well below it.
_SQLITE_MAX_VARS = 30000


Prep = Callable[[Any, BaseDatabaseWrapper], Any]


def _passthrough(field: models.Field[Any, Any], vendor: str) -> Prep:
    """How to prepare one field's value: the ORM's ``get_db_prep_save``, skipped for the common exact types
    whose preparation is the identity (or ``.hex`` for a UUID on SQLite)."""
    generic = field.get_db_prep_save
    target = field.target_field if field.is_relation else field  # type: ignore[attr-defined]
    if isinstance(target, models.UUIDField):
        if vendor == "postgresql":
            return lambda v, c: v if type(v) is uuid.UUID else generic(v, c)
        return lambda v, c: v.hex if type(v) is uuid.UUID else generic(v, c)
    if isinstance(target, (models.CharField, models.TextField)) and not field.is_relation:
        return lambda v, c: v if type(v) is str or v is None else generic(v, c)
    if isinstance(target, models.IntegerField) and not isinstance(target, models.AutoField) and not field.is_relation:
        return lambda v, c: v if type(v) is int or v is None else generic(v, c)
    return generic


@dataclass(frozen=True, eq=False)
class Table:
    """One model's table: its insertable fields in column order, quoted names and array casts."""

    model: type[models.Model]
    name: str
    fields: tuple[models.Field[Any, Any], ...]
    columns: str
    attnames: tuple[str, ...]
    array_types: tuple[str, ...]
    plain: tuple[bool, ...]  # no pre_save work: read the attribute directly
    preps: tuple[Prep, ...]

    def values(self, obj: models.Model, connection: BaseDatabaseWrapper) -> tuple[Any, ...]:
        """The row of ``obj`` prepared for the database, in column order."""
        data = obj.__dict__
        return tuple(
            prep(data[att] if plain else field.pre_save(obj, True), connection)
            for prep, field, att, plain in zip(self.preps, self.fields, self.attnames, self.plain, strict=True)
        )

    def prepare(self, raw: Sequence[Any], connection: BaseDatabaseWrapper) -> tuple[Any, ...]:
        """A row given as attribute values in column order, prepared for the database."""
        return tuple(prep(v, connection) for prep, v in zip(self.preps, raw, strict=True))

    def prepare_map(self, raw: Mapping[str, Any], connection: BaseDatabaseWrapper) -> tuple[Any, ...]:
        """A row given by attribute name (a missing one takes the field's default), prepared for the database."""
        return tuple(
            prep(raw[att] if att in raw else field.get_default(), connection)
            for prep, field, att in zip(self.preps, self.fields, self.attnames, strict=True)
        )

    def index(self, attname: str) -> int:
        return self.attnames.index(attname)


_tables: dict[tuple[type[models.Model], str], Table] = {}


def _table(model: type[models.Model], connection: BaseDatabaseWrapper) -> Table:
    qn = connection.ops.quote_name
    fields = tuple(f for f in model._meta.concrete_fields if not (f.primary_key and isinstance(f, models.AutoField)))
    array_types = []
    for f in fields:
        db_type = f.cast_db_type(connection) or "text"
        array_types.append(f"{db_type}[]")
    plain = tuple(not getattr(f, "auto_now", False) and not getattr(f, "auto_now_add", False) for f in fields)
    return Table(
        model=model,
        name=qn(model._meta.db_table),
        fields=fields,
        columns="(" + ", ".join(qn(str(f.column)) for f in fields) + ")",
        attnames=tuple(f.attname for f in fields),
        array_types=tuple(array_types),
        plain=plain,
        preps=tuple(_passthrough(f, connection.vendor) for f in fields),
    )


def table(model: type[models.Model], connection: BaseDatabaseWrapper) -> Table:
    """The prepared table of ``model`` (the SQL depends only on the database vendor)."""
    key = (model, connection.vendor)
    found = _tables.get(key)
    if found is None:
        found = _tables[key] = _table(model, connection)
    return found


def _values_sql(tbl: Table, count: int) -> str:
    one = "(" + ", ".join(["%s"] * len(tbl.fields)) + ")"
    return f"INSERT INTO {tbl.name} {tbl.columns} VALUES " + ", ".join([one] * count)  # noqa: S608


# -- one item ---------------------------------------------------------------------------------------------
def insert_together(connection: BaseDatabaseWrapper, groups: Sequence[tuple[Table, list[tuple[Any, ...]]]]) -> None:
    """Insert every group's rows; any conflict raises (the caller's savepoint decides what it means)."""
    groups = [(tbl, rows) for tbl, rows in groups if rows]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            parts = [(_values_sql(tbl, len(rows)), [v for row in rows for v in row]) for tbl, rows in groups]
            ctes = ", ".join(f"s{n} AS ({sql})" for n, (sql, _) in enumerate(parts[:-1]))
            sql = (f"WITH {ctes} " if ctes else "") + parts[-1][0]
            cursor.execute(sql, [p for _, params in parts for p in params])
            return
        for tbl, rows in groups:
            for chunk in _chunks(rows, max(1, _SQLITE_MAX_VARS // max(1, len(tbl.fields)))):
                cursor.execute(_values_sql(tbl, len(chunk)), [v for row in chunk for v in row])


# -- a batch ----------------------------------------------------------------------------------------------
@dataclass
class Dependent:
    """Rows that exist only if the checkpoint named in column ``key`` was inserted (children, links, log)."""

    table: Table
    key: str  # attname of the column holding the checkpoint id
    rows: list[tuple[Any, ...]]
    ignore_conflicts: bool = True


def insert_batch(
    connection: BaseDatabaseWrapper,
    checkpoints: Mapping[Table, list[tuple[Any, ...]]],
    dependents: Sequence[Dependent],
) -> set[Any]:
    """Insert checkpoints, ignoring conflicts; return the prepared ids of those actually inserted.

    Dependent rows are written only for those ids. On PostgreSQL the whole batch is one statement.
    """
    checkpoints = {tbl: rows for tbl, rows in checkpoints.items() if rows}
    if not checkpoints:
        return set()
    if connection.vendor == "postgresql":
        return _pg_batch(connection, checkpoints, [d for d in dependents if d.rows])
    return _sqlite_batch(connection, checkpoints, [d for d in dependents if d.rows])


def _unnest(tbl: Table, rows: list[tuple[Any, ...]]) -> tuple[str, list[list[Any]]]:
    casts = ", ".join(f"%s::{t}" for t in tbl.array_types)
    arrays = [list(col) for col in zip(*rows, strict=True)]
    return f"UNNEST({casts})", arrays


def _pg_batch(
    connection: BaseDatabaseWrapper, checkpoints: Mapping[Table, list[tuple[Any, ...]]], dependents: list[Dependent]
) -> set[Any]:
    qn = connection.ops.quote_name
    ctes, params, names = [], [], []
    for n, (tbl, rows) in enumerate(checkpoints.items()):
        source, arrays = _unnest(tbl, rows)
        ctes.append(
            f"ins{n} AS (INSERT INTO {tbl.name} {tbl.columns} SELECT * FROM {source} "  # noqa: S608
            "ON CONFLICT DO NOTHING RETURNING id)"
        )
        params.extend(arrays)
        names.append(f"ins{n}")
    inserted = " UNION ALL ".join(f"SELECT id FROM {name}" for name in names)  # noqa: S608
    for n, dep in enumerate(dependents):
        source, arrays = _unnest(dep.table, dep.rows)
        alias = "(" + ", ".join(qn(str(f.column)) for f in dep.table.fields) + ", tpfgo_ord)"
        key = qn(str(dep.table.fields[dep.table.index(dep.key)].column))
        conflict = " ON CONFLICT DO NOTHING" if dep.ignore_conflicts else ""
        ctes.append(
            f"dep{n} AS (INSERT INTO {dep.table.name} {dep.table.columns} "  # noqa: S608
            f"SELECT {', '.join('u.' + qn(str(f.column)) for f in dep.table.fields)} "
            f"FROM {source} WITH ORDINALITY AS u{alias} WHERE u.{key} IN ({inserted}) ORDER BY u.tpfgo_ord{conflict})"
        )
        params.extend(arrays)
    sql = "WITH " + ", ".join(ctes) + " " + inserted
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def _sqlite_batch(
    connection: BaseDatabaseWrapper, checkpoints: Mapping[Table, list[tuple[Any, ...]]], dependents: list[Dependent]
) -> set[Any]:
    inserted: set[Any] = set()
    with connection.cursor() as cursor:
        for tbl, rows in checkpoints.items():
            for chunk in _chunks(rows, max(1, _SQLITE_MAX_VARS // len(tbl.fields))):
                sql = _values_sql(tbl, len(chunk)) + " ON CONFLICT DO NOTHING RETURNING id"
                cursor.execute(sql, [v for row in chunk for v in row])
                inserted.update(row[0] for row in cursor.fetchall())
        for dep in dependents:
            at = dep.table.index(dep.key)
            rows = [row for row in dep.rows if row[at] in inserted]
            if rows:
                conflict = " ON CONFLICT DO NOTHING" if dep.ignore_conflicts else ""
                cursor.executemany(_values_sql(dep.table, 1) + conflict, rows)
    return inserted


def _chunks(rows: list[tuple[Any, ...]], size: int) -> Iterable[list[tuple[Any, ...]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
