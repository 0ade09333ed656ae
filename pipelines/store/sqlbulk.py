"""Bulk SQL for insert-only rows: prepared column lists and the statements that write a step's rows.

The ORM's ``save()`` compiles a statement per row; a step writes a handful of rows per item (its checkpoints,
their owned child rows, lineage links, log rows), so this module prepares each table once and writes, for one
item or a batch (``insert_batch``): checkpoints
with ``ON CONFLICT DO NOTHING RETURNING id``, and the rows that depend on them only for the checkpoints
actually inserted. PostgreSQL gets one statement (arrays through ``UNNEST``, chained data-modifying CTEs),
SQLite one multi-row INSERT per table. A conflict never aborts the
transaction, so the caller needs no savepoint.

Values are prepared exactly as the ORM would (``pre_save`` then ``get_db_prep_save``) and always bound as
parameters; table and column names come from model metadata, quoted by the backend (hence the ``S608``
suppressions).
"""

from __future__ import annotations

import datetime
import decimal
import functools
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

# SQLite allows 32766 bound variables per statement (3.32+); stay well below it.
_SQLITE_MAX_VARS = 30000


Prep = Callable[[Any, BaseDatabaseWrapper], Any]


def _kind(field: models.Field[Any, Any]) -> str:
    """Which short cut prepares this field's value: "uuid", "text", "int", "datetime", or "generic" (the ORM's)."""
    target = field.target_field if field.is_relation else field  # type: ignore[attr-defined]
    if isinstance(target, models.UUIDField):
        return "uuid"
    if field.is_relation:
        return "generic"
    if isinstance(target, (models.CharField, models.TextField)):
        return "text"
    if isinstance(target, models.IntegerField) and not isinstance(target, models.AutoField):
        return "int"
    if isinstance(target, models.DateTimeField):
        return "datetime"
    if isinstance(target, models.DecimalField):
        return "decimal"
    return "generic"


# A value of the exact type prepared inline (``{v}``: the value, ``{p}``: the field's ``get_db_prep_save``, ``c``:
# the connection): as it is; ``.hex`` for a UUID on SQLite; Django's UTC text for an aware UTC time on SQLite. Any
# other value goes through the ORM's preparation, so the result is always what the ORM would send.
_SHORT_CUTS: dict[tuple[str, str], str] = {
    ("uuid", "postgresql"): "{v} if type({v}) is UUID else {p}({v}, c)",
    ("uuid", "sqlite"): "'%032x' % {v}.int if type({v}) is UUID else {p}({v}, c)",  # UUID.hex, without the call
    ("text", ""): "{v} if type({v}) is str or {v} is None else {p}({v}, c)",
    ("int", ""): "{v} if type({v}) is int or {v} is None else {p}({v}, c)",
    # The ORM sends a finite Decimal as an equal Decimal (``to_python``; the backends adapt it as it is).
    ("decimal", ""): "{v} if type({v}) is Decimal and {v}.is_finite() else {p}({v}, c)",
    ("datetime", "postgresql"): "{v} if type({v}) is datetime and {v}.tzinfo is not None else {p}({v}, c)",
    ("datetime", "sqlite"): (
        '{v}.replace(tzinfo=None).isoformat(" ") if type({v}) is datetime and {v}.tzinfo is UTC else {p}({v}, c)'
    ),
}
_GENERIC = "{p}({v}, c)"
_NAMES = {"UUID": uuid.UUID, "datetime": datetime.datetime, "UTC": datetime.UTC, "Decimal": decimal.Decimal}


def _short_cut(kind: str, vendor: str) -> str:
    return _SHORT_CUTS.get((kind, vendor)) or _SHORT_CUTS.get((kind, ""), _GENERIC)


def _passthrough(field: models.Field[Any, Any], vendor: str) -> Prep:
    """How to prepare one field's value: the ORM's ``get_db_prep_save``, short-cut for the common exact types."""
    generic = field.get_db_prep_save
    template = _short_cut(_kind(field), vendor)
    if template == _GENERIC:
        return generic
    source = "lambda v, c: " + template.format(v="v", p="p")
    prep: Prep = eval(source, {**_NAMES, "p": generic})  # noqa: S307  (built from the fixed short cuts above)
    return prep


def _remember(memo: list[tuple[Any, Any]], value: Any, prepared: Any) -> Any:
    memo[0] = (value, prepared)
    return prepared


def _row_builder(
    fields: Sequence[models.Field[Any, Any]], vendor: str
) -> Callable[[dict[str, Any], Any], tuple[Any, ...]]:
    """One function that prepares a whole row from an instance's ``__dict__``, the short cuts inline: one call
    per row instead of one per column (a batch prepares tens of thousands of rows).

    A time column remembers its last value and text: the rows of one step share the step's clock reading, so a
    batch step formats it once (a datetime is immutable; the pair is replaced whole, so threads never mix them).
    """
    names: dict[str, Any] = {**_NAMES, "remember": _remember}
    lines = []
    for n, field in enumerate(fields):
        names[f"p{n}"] = field.get_db_prep_save
        expression = _short_cut(_kind(field), vendor).format(v=f"v{n}", p=f"p{n}")
        lines.append(f"    v{n} = data[{field.attname!r}]")
        if _kind(field) == "datetime" and expression != _GENERIC.format(v=f"v{n}", p=f"p{n}"):
            names[f"m{n}"] = [(None, None)]
            lines.append(f"    k{n} = m{n}[0]")
            lines.append(f"    r{n} = k{n}[1] if v{n} is k{n}[0] else remember(m{n}, v{n}, {expression})")
        else:
            lines.append(f"    r{n} = {expression}")
    result = ", ".join(f"r{n}" for n in range(len(fields)))
    source = "def build(data, c):\n" + "\n".join(lines) + f"\n    return ({result},)\n"
    exec(source, names)  # noqa: S102  (built from the fixed short cuts above and the model's attnames)
    builder: Callable[[dict[str, Any], Any], tuple[Any, ...]] = names["build"]
    return builder


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
    all_plain: bool
    preps: tuple[Prep, ...]
    pk_index: int  # position of the primary key in a row (-1: generated by the database)
    created_index: int  # position of created_at (-1: none)
    build_row: Callable[[dict[str, Any], Any], tuple[Any, ...]]  # the prepared row of an instance's __dict__

    def values(self, obj: models.Model, connection: BaseDatabaseWrapper) -> tuple[Any, ...]:
        """The row of ``obj`` prepared for the database, in column order."""
        if self.all_plain:
            return self.build_row(obj.__dict__, connection)
        data = obj.__dict__
        return tuple(
            prep(data[att] if plain else field.pre_save(obj, True), connection)
            for prep, field, att, plain in zip(self.preps, self.fields, self.attnames, self.plain, strict=True)
        )

    def prepare(self, raw: Sequence[Any], connection: BaseDatabaseWrapper) -> tuple[Any, ...]:
        """A row given as attribute values in column order, prepared for the database."""
        return tuple(prep(v, connection) for prep, v in zip(self.preps, raw, strict=True))

    def index(self, attname: str) -> int:
        return self.attnames.index(attname)

    def arranger(self, *attnames: str) -> Callable[..., tuple[Any, ...]]:
        """Builds a row from values already prepared for the database, given in the order of ``attnames``,
        which must name every column (the rows of the engine's own tables, written on every step)."""
        if sorted(attnames) != sorted(self.attnames):
            raise ValueError(f"{self.model.__name__}: give exactly the columns {self.attnames}")
        order = [attnames.index(att) for att in self.attnames]
        if order == list(range(len(order))):
            return lambda *values: values
        return lambda *values: tuple([values[n] for n in order])


_tables: dict[tuple[type[models.Model], str, bool], Table] = {}


def _table(model: type[models.Model], connection: BaseDatabaseWrapper, with_pk: bool = False) -> Table:
    qn = connection.ops.quote_name
    fields = tuple(
        f for f in model._meta.concrete_fields if with_pk or not (f.primary_key and isinstance(f, models.AutoField))
    )
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
        all_plain=all(plain),
        preps=tuple(_passthrough(f, connection.vendor) for f in fields),
        pk_index=next((n for n, f in enumerate(fields) if f.primary_key), -1),
        created_index=next((n for n, f in enumerate(fields) if f.attname == "created_at"), -1),
        build_row=_row_builder(fields, connection.vendor),
    )


def table(model: type[models.Model], connection: BaseDatabaseWrapper, *, with_pk: bool = False) -> Table:
    """The prepared table of ``model`` (the SQL depends only on the database vendor). A generated primary key
    is left to the database unless ``with_pk`` (a row that brings its own, e.g. the benchmark's clones)."""
    key = (model, connection.vendor, with_pk)
    found = _tables.get(key)
    if found is None:
        found = _tables[key] = _table(model, connection, with_pk)
    return found


def values_sql(tbl: Table, count: int, mark: str = "%s") -> str:
    one = "(" + ", ".join([mark] * len(tbl.fields)) + ")"
    return f"INSERT INTO {tbl.name} {tbl.columns} VALUES " + ", ".join([one] * count)  # noqa: S608


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


# Up to this many rows per table, the statement lists them (``VALUES``); beyond, it takes one array per column.
_VALUES_ROWS = 8


def _source_sql(tbl: Table, count: int, ordinal: bool) -> str:
    """A typed row source for ``count`` rows: ``(VALUES …)`` for a few rows, ``UNNEST(arrays)`` for many.

    A few rows (one item's) are cheaper to send as scalars; arrays keep a batch's statement text the same
    whatever its size. With ``ordinal`` the source has a last column numbering the rows from 1.
    """
    if count > _VALUES_ROWS:
        casts = ", ".join(f"%s::{t}" for t in tbl.array_types)
        return f"UNNEST({casts}) WITH ORDINALITY" if ordinal else f"UNNEST({casts})"
    casts = ", ".join(f"%s::{t[:-2]}" for t in tbl.array_types)
    one = [f"({casts}, {n})" if ordinal else f"({casts})" for n in range(1, count + 1)]
    return f"(VALUES {', '.join(one)})"


def _source_params(rows: list[tuple[Any, ...]]) -> list[Any]:
    if len(rows) > _VALUES_ROWS:
        return [list(col) for col in zip(*rows, strict=True)]
    return list(chain.from_iterable(rows))


# A statement's text depends only on its shape: the checkpoint tables and the dependent tables (with the column
# naming their checkpoint and whether their conflicts are ignored), each with its row count if its rows are listed.
Shape = tuple[tuple[tuple[Table, int], ...], tuple[tuple[Table, int, str, bool], ...]]
_statements: dict[Shape, str] = {}


def _count(rows: list[Any]) -> int:
    return len(rows) if len(rows) <= _VALUES_ROWS else _VALUES_ROWS + 1  # arrays: any size, one text


def _pg_statement(connection: BaseDatabaseWrapper, shape: Shape) -> str:
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


def _pg_batch(
    connection: BaseDatabaseWrapper, checkpoints: Mapping[Table, list[tuple[Any, ...]]], dependents: list[Dependent]
) -> set[Any]:
    shape: Shape = (
        tuple((tbl, _count(rows)) for tbl, rows in checkpoints.items()),
        tuple((d.table, _count(d.rows), d.key, d.ignore_conflicts) for d in dependents),
    )
    sql = _statements.get(shape)
    if sql is None:
        sql = _statements[shape] = _pg_statement(connection, shape)
    params: list[Any] = []
    for rows in checkpoints.values():
        params.extend(_source_params(rows))
    for dep in dependents:
        params.extend(_source_params(dep.rows))
    with bound_cursor(connection) as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def bound_cursor(connection: BaseDatabaseWrapper) -> Any:
    """A cursor that binds parameters on the server and prepares its statements (PostgreSQL, psycopg 3).

    Django's default cursor binds parameters on the client: it renders every array of the batch statement as
    SQL text, and the server parses and plans the statement every time. The engine's statements have a fixed
    text (a step's insert: the arrays carry any number of rows; ``pipelines.store.lookups``' reads), so each is
    prepared once per connection and each later execution sends only its values.
    ``TPFGO_PREPARED_STATEMENTS=0`` turns preparing off (for a connection pooler that cannot keep prepared
    statements); the parameters are still bound on the server.
    The cursor goes through Django's wrappers, so query logging and execute wrappers see the statement.
    """
    from django.conf import settings

    connection.ensure_connection()
    connection.validate_thread_sharing()
    prepare = bool(getattr(settings, "TPFGO_PREPARED_STATEMENTS", True))
    if prepare and connection.connection.prepare_threshold is None:
        # Django turns psycopg's automatic preparing off (None), which also refuses an explicit prepare=True.
        # A threshold no statement reaches keeps Django's own queries unprepared and lets this cursor prepare.
        connection.connection.prepare_threshold = 2**31 - 1
    with connection.wrap_database_errors:
        raw = _bound_cursor_class()(connection.connection)
    raw.tpfgo_prepare = prepare
    if connection.queries_logged:
        return _debug_wrapper_class()(raw, connection)
    return connection.make_cursor(raw)


@functools.cache
def _bound_cursor_class() -> type[Any]:
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparingCursor(ServerBindingCursor):
        tpfgo_prepare = True

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            return super().execute(query, params, prepare=self.tpfgo_prepare or None, **kwargs)  # type: ignore[misc]

    return PreparingCursor


@functools.cache
def _debug_wrapper_class() -> type[Any]:
    from django.db.backends.postgresql.base import CursorDebugWrapper
    from django.db.backends.utils import CursorWrapper

    class StatementDebugWrapper(CursorDebugWrapper):
        """Logs the statement's text: a prepared execution leaves psycopg no query text to report."""

        def execute(self, sql: Any, params: Any = None) -> Any:
            with self.debug_sql(sql, params, use_last_executed_query=False):
                return CursorWrapper.execute(self, sql, params)

    return StatementDebugWrapper


def _sqlite_batch(
    connection: BaseDatabaseWrapper, checkpoints: Mapping[Table, list[tuple[Any, ...]]], dependents: list[Dependent]
) -> set[Any]:
    inserted: set[Any] = set()
    cursor, mark = qmark_cursor(connection)
    with cursor:
        for tbl, rows in checkpoints.items():
            for sql, params in _sqlite_inserts(tbl, rows, mark, ignore_conflicts=True, returning=True):
                cursor.execute(sql, params)
                inserted.update(row[0] for row in cursor.fetchall())
        everything = len(inserted) == sum(map(len, checkpoints.values()))  # the usual case: nothing to leave out
        for dep in dependents:
            at = dep.table.index(dep.key)
            rows = dep.rows if everything else [row for row in dep.rows if row[at] in inserted]
            for sql, params in _sqlite_inserts(dep.table, rows, mark, ignore_conflicts=dep.ignore_conflicts):
                cursor.execute(sql, params)
    return inserted


def _sqlite_inserts(
    tbl: Table, rows: list[tuple[Any, ...]], mark: str, *, ignore_conflicts: bool, returning: bool = False
) -> Iterable[tuple[str, list[Any]]]:
    """``rows`` as multi-row INSERTs (statement, flat parameters), each under SQLite's bound-value limit."""
    for chunk in _chunks(rows, max(1, _SQLITE_MAX_VARS // len(tbl.fields))):
        yield _sqlite_insert(tbl, len(chunk), mark, ignore_conflicts, returning), list(chain.from_iterable(chunk))


@functools.lru_cache(maxsize=256)
def _sqlite_insert(tbl: Table, count: int, mark: str, ignore_conflicts: bool, returning: bool) -> str:
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
    text: a batch's multi-row insert is tens of kilobytes. So the engine writes its statements with ``?`` for the
    driver's cursor in Django's wrapper (execute wrappers run, database errors are translated). While queries are
    logged (``DEBUG``, tests counting statements), Django's own cursor and ``%s``: its log renders ``%s``.
    """
    if connection.queries_logged:
        return connection.cursor(), "%s"
    connection.ensure_connection()
    connection.validate_thread_sharing()
    return connection.make_cursor(connection.connection.cursor()), "?"


def _chunks(rows: list[tuple[Any, ...]], size: int) -> Iterable[list[tuple[Any, ...]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
