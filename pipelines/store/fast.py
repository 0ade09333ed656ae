"""The store's fast paths, all in one place: what the ORM does, done with less Python per row.

Every trick here gives exactly what the ORM gives (tests/pipelines/test_fast_paths.py writes every checkpoint
model of the composition both ways and compares the stored rows column by column, on SQLite and PostgreSQL, and
reads them back both ways). The figures are in docs/performance.md ("The store's fast paths"). Each trick, and
why it exists:

- **Prepared tables** (``table``): a model's insertable fields, quoted names and array casts, computed once per
  (model, vendor). ``save()`` compiles an INSERT per row; a step writes several rows per item.
- **Value short cuts** (``_prep``): the ORM prepares a value with ``get_db_prep_save``, several method calls per
  column. For the exact types a step stores (``UUID``, ``str``, ``int``, a finite ``Decimal``, an aware
  ``datetime``) the prepared value is known (the value itself; on SQLite a UUID's hex, a UTC time's text), so a
  closure tests the type and falls back to the field for anything else.
- **Row builders** (``_row_builder``): one generated function per table prepares a whole row from an instance's
  ``__dict__`` with the short cuts written inline, one call per row instead of two per column. This is the one
  place that generates code (``exec``), from the fixed short cuts below and the model's attribute names (never
  from data): a batch prepares tens of thousands of rows, and the closures-per-column alternative measured
  about twice as slow per row (docs/performance.md). A time column also remembers its last value and text: the
  rows of one step share the step's clock reading, so a batch formats it once.
- **Instances without the constructor** (``instantiate``): ``Model.__init__`` does per-keyword work; a checkpoint
  built from attribute names gets the same instance from its fields' defaults and the given values (``__new__``
  plus a fresh ``ModelState``). Anything the constructor does beyond that (signals, a constructor of its own,
  descriptors other than plain attributes) takes the constructor.
- **Child rows as if prefetched** (``attach_children``): a checkpoint just inserted carries its owned child rows
  in the related manager's prefetch cache, so the next step reading them costs no query.
- **Look-ups with SQL built once** (``lookup``, ``instances``): an exact-match ORM query is compiled on every
  call, which costs more than the database's answer; the statement is kept per (model, filtered columns,
  ordering, limit, vendor) and the rows become instances exactly as the ORM makes them (backend and field
  converters, then ``Model.from_db``).
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import signals
from django.db.models.base import ModelState
from django.db.models.query_utils import DeferredAttribute

from pipelines.contracts.errors import ContractError

M = TypeVar("M", bound=models.Model)
Prep = Callable[[Any, BaseDatabaseWrapper], Any]
Row = tuple[Any, ...]
RowBuilder = Callable[[dict[str, Any], BaseDatabaseWrapper], Row]


# -- value short cuts -------------------------------------------------------------------------------------------
def _kind(field: models.Field[Any, Any]) -> str:
    """Which short cut prepares this field's value: "uuid", "text", "int", "datetime", "decimal" or "generic"."""
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


# The same short cut, as an expression for the row builder (``{v}``: the value, ``{p}``: the field's
# ``get_db_prep_save``, ``c``: the connection) and as a closure (``_prep``). Any value of another type goes
# through the ORM's preparation, so the result is always what the ORM would send.
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


def _prep(field: models.Field[Any, Any], vendor: str) -> Prep:
    """How to prepare one field's value: ``get_db_prep_save``, short-cut for the common exact types."""
    p = field.get_db_prep_save
    kind = _kind(field)
    if kind == "uuid" and vendor == "postgresql":
        return lambda v, c: v if type(v) is uuid.UUID else p(v, c)
    if kind == "uuid" and vendor == "sqlite":
        return lambda v, c: f"{v.int:032x}" if type(v) is uuid.UUID else p(v, c)
    if kind == "text":
        return lambda v, c: v if type(v) is str or v is None else p(v, c)
    if kind == "int":
        return lambda v, c: v if type(v) is int or v is None else p(v, c)
    if kind == "decimal":
        return lambda v, c: v if type(v) is decimal.Decimal and v.is_finite() else p(v, c)
    if kind == "datetime" and vendor == "postgresql":
        return lambda v, c: v if type(v) is datetime.datetime and v.tzinfo is not None else p(v, c)
    if kind == "datetime" and vendor == "sqlite":
        memo: list[tuple[Any, Any]] = [(None, None)]  # its last value and text, as the row builders keep them

        def sqlite_time(v: Any, c: Any) -> Any:
            last = memo[0]
            if v is last[0]:
                return last[1]
            if type(v) is datetime.datetime and v.tzinfo is datetime.UTC:
                return _remember(memo, v, v.replace(tzinfo=None).isoformat(" "))
            return p(v, c)

        return sqlite_time
    return p


def _remember(memo: list[tuple[Any, Any]], value: Any, prepared: Any) -> Any:
    memo[0] = (value, prepared)
    return prepared


def _row_builder(fields: Sequence[models.Field[Any, Any]], vendor: str) -> RowBuilder:
    """One generated function that prepares a whole row from an instance's ``__dict__``, short cuts inline.

    A time column remembers its last value and text (a datetime is immutable; the pair is replaced whole, so
    threads never mix them).
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
    builder: RowBuilder = names["build"]
    return builder


# -- prepared tables --------------------------------------------------------------------------------------------
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
    build_row: RowBuilder  # the prepared row of an instance's __dict__

    def values(self, obj: models.Model, connection: BaseDatabaseWrapper) -> Row:
        """The row of ``obj`` prepared for the database, in column order."""
        if self.all_plain:
            return self.build_row(obj.__dict__, connection)
        data = obj.__dict__
        return tuple(
            prep(data[att] if plain else field.pre_save(obj, True), connection)
            for prep, field, att, plain in zip(self.preps, self.fields, self.attnames, self.plain, strict=True)
        )

    def prepare(self, raw: Sequence[Any], connection: BaseDatabaseWrapper) -> Row:
        """A row given as attribute values in column order, prepared for the database."""
        return tuple(prep(v, connection) for prep, v in zip(self.preps, raw, strict=True))

    def index(self, attname: str) -> int:
        return self.attnames.index(attname)

    def arranger(self, *attnames: str) -> Callable[..., Row]:
        """Builds a row from values already prepared for the database, given in the order of ``attnames``,
        which must name every column (the rows of the engine's own tables, written on every step)."""
        if sorted(attnames) != sorted(self.attnames):
            raise ValueError(f"{self.model.__name__}: give exactly the columns {self.attnames}")
        order = [attnames.index(att) for att in self.attnames]
        if order == list(range(len(order))):
            return lambda *values: values
        return lambda *values: tuple([values[n] for n in order])


_tables: dict[tuple[type[models.Model], str, bool], Table] = {}


def _cast_type(field: models.Field[Any, Any], connection: BaseDatabaseWrapper) -> str:
    """The type a value is cast to on its way in: a text's without its length (``varchar``, not ``varchar(64)``),
    so the column refuses a longer one as the ORM's insert does; an explicit cast to ``varchar(n)`` cuts it to n
    characters without a word (PostgreSQL)."""
    cast = field.cast_db_type(connection) or "text"
    return cast.split("(", 1)[0] if isinstance(field, models.CharField) else cast


def _table(model: type[models.Model], connection: BaseDatabaseWrapper, with_pk: bool) -> Table:
    qn = connection.ops.quote_name
    fields = tuple(
        f for f in model._meta.concrete_fields if with_pk or not (f.primary_key and isinstance(f, models.AutoField))
    )
    plain = tuple(not getattr(f, "auto_now", False) and not getattr(f, "auto_now_add", False) for f in fields)
    return Table(
        model=model,
        name=qn(model._meta.db_table),
        fields=fields,
        columns="(" + ", ".join(qn(str(f.column)) for f in fields) + ")",
        attnames=tuple(f.attname for f in fields),
        array_types=tuple(f"{_cast_type(f, connection)}[]" for f in fields),
        plain=plain,
        all_plain=all(plain),
        preps=tuple(_prep(f, connection.vendor) for f in fields),
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
    """A multi-row ``INSERT … VALUES`` for ``count`` rows of ``tbl``."""
    one = "(" + ", ".join([mark] * len(tbl.fields)) + ")"
    return f"INSERT INTO {tbl.name} {tbl.columns} VALUES " + ", ".join([one] * count)  # noqa: S608


# -- instances --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Blueprint:
    attnames: frozenset[str]
    constants: dict[str, Any]  # attname -> default, for fields whose default is a value (after ``_state``)
    factories: tuple[tuple[str, Callable[[], Any]], ...]  # (attname, callable) for computed defaults


_blueprints: dict[type[models.Model], _Blueprint | None] = {}


def instantiate(model: type[M], fields: Mapping[str, Any]) -> M:
    """``model(**fields)`` without the constructor's per-keyword work, for fields given by attname."""
    blueprint = _blueprints.get(model, ...)
    if blueprint is ...:
        blueprint = _blueprints[model] = _blueprint(model)
    if blueprint is None or not blueprint.attnames.issuperset(fields):
        return model(**fields)
    row = model.__new__(model)
    data = blueprint.constants.copy()  # ``_state`` and the defaults, in the order the attributes were set before
    data["_state"] = ModelState()
    for attname, factory in blueprint.factories:
        data[attname] = factory()
    data.update(fields)
    row.__dict__ = data
    return row


def plain_attributes(model: type[models.Model]) -> bool:
    """Every field of ``model`` is a plain attribute (known once ``instantiate`` has built one)."""
    return bool(_blueprints.get(model))


def _blueprint(model: type[models.Model]) -> _Blueprint | None:
    if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
        return None
    if model.__init__ is not models.Model.__init__:  # a constructor of its own
        return None
    fields = model._meta.concrete_fields
    # Plain attributes and foreign key ids (a new instance has no related object cached to clear); any other
    # descriptor (a file field, …) is the constructor's business.
    if not all(isinstance(model.__dict__.get(f.attname), DeferredAttribute) for f in fields):
        return None
    constants: dict[str, Any] = {"_state": None}
    factories = []
    for f in fields:
        if f.has_default() and callable(f.default):
            factories.append((f.attname, f.get_default))
        else:
            constants[f.attname] = f.get_default()
    return _Blueprint(frozenset(f.attname for f in fields), constants, tuple(factories))


def mark_stored(rows: Iterable[tuple[models.Model, Sequence[models.Model]]], alias: str) -> None:
    """Instances of inserted rows say they are stored (as ``save()`` leaves them); a checkpoint carries its
    child rows as if prefetched."""
    for row, children in rows:
        state = row._state
        state.adding, state.db = False, alias
        if children:
            for child in children:
                child._state.adding, child._state.db = False, alias
            attach_children(row, children)


def attach_children(row: models.Model, children: Sequence[models.Model]) -> None:
    """Give ``row`` its owned child rows as if prefetched: a step reading them next costs no query."""
    if not children:
        return
    for field in type(children[0])._meta.concrete_fields:
        if field.is_relation and field.related_model is type(row):
            related: Any = field.remote_field
            queryset = getattr(row, related.get_accessor_name()).get_queryset()
            queryset._result_cache = list(children)
            queryset._prefetch_done = True
            cache = row.__dict__.setdefault("_prefetched_objects_cache", {})
            cache[related.cache_name] = queryset
            return


def owner_column(child: type[models.Model], owner: type[models.Model]) -> str:
    """The column of ``child`` that holds its owning checkpoint's id."""
    for field in child._meta.concrete_fields:
        if field.is_relation and field.related_model is owner:
            return str(field.attname)
    raise ContractError(f"{child.__name__} has no foreign key to {owner.__name__}")


# -- look-ups with SQL built once -------------------------------------------------------------------------------
Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]


@dataclass(frozen=True)
class Lookup:
    """An exact-match SELECT, compiled once: its text, the filtered fields, and how to convert what comes back."""

    sql: str
    filters: tuple[models.Field[Any, Any], ...]
    attnames: tuple[str, ...]
    converters: tuple[tuple[int, tuple[Converter, ...], Any], ...]  # (position, converters, column)

    def params(self, equals: Mapping[str, Any], connection: BaseDatabaseWrapper) -> list[Any]:
        return [f.get_db_prep_value(v, connection) for f, v in zip(self.filters, equals.values(), strict=True)]


_lookups: dict[tuple[Any, ...], Lookup] = {}


def lookup(
    model: type[models.Model],
    names: tuple[str, ...],
    order_by: tuple[str, ...],
    limit: int | None,
    connection: BaseDatabaseWrapper,
) -> Lookup:
    """``model.objects.filter(<names> = …).order_by(*order_by)[:limit]`` as SQL, compiled once per vendor."""
    key = (model, names, order_by, limit, connection.vendor)
    found = _lookups.get(key)
    if found is None:
        found = _lookups[key] = _compile(model, names, order_by, limit, connection)
    return found


def instances(
    model: type[M], statement: Lookup, fetched: Iterable[Sequence[Any]], alias: str, connection: BaseDatabaseWrapper
) -> list[M]:
    """The fetched rows as the ORM makes them: converters, then ``Model.from_db`` (or, for a model whose
    constructor only sets plain attributes, what it would leave: ``_instance_from_db``)."""
    found = []
    plain = _reads_plainly(model, statement)
    for raw in fetched:
        values = list(raw)
        for position, converters, column in statement.converters:
            value = values[position]
            for convert in converters:
                value = convert(value, column, connection)
            values[position] = value
        if plain:
            found.append(_instance_from_db(model, alias, statement.attnames, values))
        else:
            found.append(model.from_db(alias, statement.attnames, values))
    return found


def _reads_plainly(model: type[models.Model], statement: Lookup) -> bool:
    """``from_db`` would call the constructor with every field, and the constructor only sets attributes."""
    if model.from_db.__func__ is not models.Model.from_db.__func__:  # type: ignore[attr-defined]
        return False
    if len(statement.attnames) != len(model._meta.concrete_fields):  # deferred fields: the ORM's way
        return False
    blueprint = _blueprints.get(model, ...)
    if blueprint is ...:
        blueprint = _blueprints[model] = _blueprint(model)
    return blueprint is not None


def _instance_from_db(model: type[M], alias: str, attnames: tuple[str, ...], values: list[Any]) -> M:
    row = model.__new__(model)
    state = row._state = ModelState()
    state.adding, state.db = False, alias
    row.__dict__.update(zip(attnames, values, strict=True))
    return row


def _compile(
    model: type[models.Model],
    names: tuple[str, ...],
    order_by: tuple[str, ...],
    limit: int | None,
    connection: BaseDatabaseWrapper,
) -> Lookup:
    qn = connection.ops.quote_name
    meta = model._meta
    name = qn(meta.db_table)
    fields = meta.concrete_fields
    filters = tuple(_field(model, n) for n in names)
    where = " AND ".join(f"{name}.{qn(str(f.column))} = %s" for f in filters)
    ordering = []
    for term in order_by or [str(o) for o in meta.ordering or ()]:
        descending = term.startswith("-")
        field = _field(model, term.lstrip("-"))
        ordering.append(f"{name}.{qn(str(field.column))}{' DESC' if descending else ' ASC'}")
    sql = f"SELECT {', '.join(f'{name}.{qn(str(f.column))}' for f in fields)} FROM {name}"  # noqa: S608
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
    return Lookup(sql, filters, tuple(f.attname for f in fields), tuple(converters))


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    meta = model._meta
    field = meta.pk if name == "pk" else meta.get_field(name)
    if not isinstance(field, models.Field) or not field.concrete:
        raise ValueError(f"{model.__name__}.{name} is not a concrete column")
    return field
