"""The rows one TPFGo order writes, captured once and cloned with fresh ids: the raw-SQL and ORM baselines.

``capture()`` places one order through the application service and reads back every row it wrote (its trace
number, checkpoints, line items, lineage links and log rows). ``Template.clone(n)`` gives the same rows for another
order: every id, key and id-derived text replaced, a trace number of its own (taken from the database's
sequence, as TPFGo's would be), everything else identical, prepared for the database exactly as the ORM
prepares it. So the baselines write the same rows, into the same tables, indexes and triggers, as TPFGo does.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import connection, models, transaction

from pipelines import Table, storage
from pipelines.models import Checkpoint, CheckpointLog, LineageLink, Trace

TEMPLATE_KEY = "bench-template-0001"


@dataclass
class _Column:
    kind: str  # "const", "uuid" (an id to replace), "text" (text holding ids or the key), "number" (the trace's)
    value: Any


@dataclass
class _TableRows:
    table: Table
    rows: list[list[_Column]]
    raw: list[list[_Column]]  # the same rows as Python values, for the ORM baseline


class Numbers:
    """Trace numbers for clones, never one the database will hand out itself: PostgreSQL's sequence (``nextval``,
    a block at a time); on SQLite one past the largest ever given (``AUTOINCREMENT`` goes on after it)."""

    def __init__(self) -> None:
        self.block: list[int] = []
        self.last = 0

    def take(self) -> int:
        if connection.vendor == "postgresql":
            if not self.block:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT nextval(pg_get_serial_sequence('pipelines_trace', 'number')) "
                        "FROM generate_series(1, 1000)"
                    )
                    self.block = sorted(row[0] for row in cursor.fetchall())[::-1]
            return self.block.pop()
        with connection.cursor() as cursor:
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = 'pipelines_trace'")
            row = cursor.fetchone()
        self.last = max(self.last, row[0] if row else 0) + 1
        return self.last


class Template:
    def __init__(self, tables: list[_TableRows], uuids: list[uuid.UUID]) -> None:
        self.tables = tables
        self.uuids = uuids
        self.numbers = Numbers()
        tokens = [TEMPLATE_KEY] + [str(u) for u in uuids] + [u.hex for u in uuids] + [u.hex[:20] for u in uuids]
        self.pattern = re.compile("|".join(re.escape(t) for t in sorted(set(tokens), key=len, reverse=True)))
        self.rows_per_order = sum(len(t.rows) for t in tables)

    def _mapping(self, key: str) -> tuple[dict[Any, Any], dict[str, str]]:
        fresh = {u: uuid.uuid4() for u in self.uuids}
        by_value: dict[Any, Any] = {}
        text = {TEMPLATE_KEY: key}
        for old, new in fresh.items():
            by_value[old] = new
            by_value[old.hex] = new.hex
            text[str(old)], text[old.hex], text[old.hex[:20]] = str(new), new.hex, new.hex[:20]
        return by_value, text

    def _fill(
        self, columns: list[_Column], by_value: dict[Any, Any], text: dict[str, str], number: int
    ) -> tuple[Any, ...]:
        out = []
        for col in columns:
            if col.kind == "const":
                out.append(col.value)
            elif col.kind == "number":
                out.append(number)
            elif col.kind == "uuid":
                out.append(by_value[col.value])
            else:
                out.append(self.pattern.sub(lambda m: text[m.group(0)], col.value))
        return tuple(out)

    def clone(self, key: str) -> list[tuple[Table, list[tuple[Any, ...]]]]:
        """The prepared rows of one more order, per table, in insertion order."""
        by_value, text = self._mapping(key)
        number = self.numbers.take()
        return [(t.table, [self._fill(row, by_value, text, number) for row in t.rows]) for t in self.tables]

    def clone_objects(self, key: str) -> list[tuple[type[models.Model], dict[str, Any]]]:
        """The same rows as (model, field values): what a naive ORM loop would create."""
        by_value, text = self._mapping(key)
        number = self.numbers.take()
        out = []
        for t in self.tables:
            for row in t.raw:
                values = self._fill(row, by_value, text, number)
                out.append((t.table.model, dict(zip(t.table.attnames, values, strict=True))))
        return out


def _classify(value: Any, uuids: set[Any], pattern: re.Pattern[str], attname: str = "", number: int = 0) -> _Column:
    if attname in ("number", "trace_number") and value == number:
        return _Column("number", value)
    if isinstance(value, uuid.UUID) and value in uuids:
        return _Column("uuid", value)
    if isinstance(value, str) and value in uuids:
        return _Column("uuid", value)
    if isinstance(value, str) and pattern.search(value):
        return _Column("text", value)
    return _Column("const", value)


def capture(body: dict[str, Any]) -> Template:
    """Place one order and read back everything it stored (it stays in the database: one order)."""
    from django.apps import apps

    from checkout import services

    order_id = services.place_order(body, TEMPLATE_KEY).view["orderId"]
    trace = Trace.objects.get(trace_id=order_id)
    per_model: list[tuple[type[models.Model], list[models.Model]]] = [(Trace, [trace])]
    order = [m for m in apps.get_models() if issubclass(m, Checkpoint)]
    log = list(CheckpointLog.objects.of_trace(order_id).order_by("seq"))
    seen_types = []
    for entry in log:
        if entry.checkpoint_type not in seen_types:
            seen_types.append(entry.checkpoint_type)
    by_name = {m.__name__: m for m in order}
    uuids: set[Any] = set()
    for name in seen_types:
        model = by_name[name]
        rows = list(model.objects.filter(trace_id=order_id).order_by("idempotency_key"))
        per_model.append((model, rows))
        for child_rel in [f for f in model._meta.related_objects if f.one_to_many]:
            child_model = child_rel.related_model
            children = list(child_model.objects.filter(**{f"{child_rel.field.name}__in": rows}).order_by("pk"))
            if children:
                per_model.append((child_model, children))
    children = CheckpointLog.objects.of_trace(order_id).values_list("checkpoint_id", flat=True)
    links = LineageLink.objects.of_trace(order_id).filter(child_id__in=list(children))
    per_model.append((LineageLink, list(links.order_by("id"))))
    per_model.append((CheckpointLog, log))
    for _, rows in per_model:
        for row in rows:
            for field in row._meta.concrete_fields:
                value = getattr(row, field.attname)
                if isinstance(value, uuid.UUID):
                    uuids.add(value)
    tokens = [TEMPLATE_KEY] + [str(u) for u in uuids] + [u.hex for u in uuids]
    pattern = re.compile("|".join(re.escape(t) for t in tokens))
    prepared_ids = {u.hex for u in uuids} | uuids
    tables = []
    for model, rows in per_model:
        table = storage.table(model, connection, with_pk=model is Trace)
        raw_rows, prep_rows = [], []
        for row in rows:
            raw = [getattr(row, att) for att in table.attnames]
            prepared = table.prepare(raw, connection)
            raw_rows.append(
                [_classify(v, uuids, pattern, a, trace.number) for v, a in zip(raw, table.attnames, strict=True)]
            )
            prep_rows.append(
                [
                    _classify(v, prepared_ids, pattern, a, trace.number)
                    for v, a in zip(prepared, table.attnames, strict=True)
                ]
            )
        tables.append(_TableRows(table, prep_rows, raw_rows))
    return Template(tables, sorted(uuids, key=str))


def insert_sql(table: Table) -> str:
    """A one-row INSERT in the driver's own placeholder style (the floor talks to the driver directly)."""
    mark = "?" if connection.vendor == "sqlite" else "%s"
    return f"INSERT INTO {table.name} {table.columns} VALUES ({', '.join([mark] * len(table.fields))})"


def driver() -> Any:
    """The DB-API connection under Django's wrapper, in autocommit mode (the caller opens transactions)."""
    connection.ensure_connection()
    return connection.connection


def _by_table(orders: list[list[tuple[Table, list[tuple[Any, ...]]]]]) -> dict[Table, list[tuple[Any, ...]]]:
    """The orders' rows gathered per table."""
    grouped: dict[Table, list[tuple[Any, ...]]] = {}
    for order in orders:
        for table, rows in order:
            grouped.setdefault(table, []).extend(rows)
    return grouped


def execute_orders(orders: list[list[tuple[Table, list[tuple[Any, ...]]]]]) -> None:
    """All the orders' rows in one transaction, one ``executemany`` per table."""
    grouped = _by_table(orders)
    with transaction.atomic():
        cursor = driver().cursor()
        for table, rows in grouped.items():
            cursor.executemany(insert_sql(table), rows)


def copy_orders(orders: list[list[tuple[Table, list[tuple[Any, ...]]]]], *, binary: bool = False) -> None:
    """The same rows as ``execute_orders``; on PostgreSQL with one ``COPY … FROM STDIN`` per table in one
    transaction (its statement-level triggers fire once per table instead of once per row); ``binary``: the
    binary COPY format, each column typed by its type in the catalog. Elsewhere as ``execute_orders``."""
    if connection.vendor != "postgresql":
        execute_orders(orders)
        return
    grouped = _by_table(orders)
    with transaction.atomic():
        cursor = driver().cursor()
        for table, rows in grouped.items():
            form = " (FORMAT BINARY)" if binary else ""
            types = _column_types(table) if binary else []  # asked before the COPY holds the connection
            with cursor.copy(f"COPY {table.name} {table.columns} FROM STDIN{form}") as copy:
                if binary:
                    copy.set_types(types)
                for row in rows:
                    copy.write_row(row)


def copy_binary_orders(orders: list[list[tuple[Table, list[tuple[Any, ...]]]]]) -> None:
    copy_orders(orders, binary=True)


_types: dict[Table, list[int]] = {}


def _column_types(table: Table) -> list[int]:
    """The type oid of every column of ``table``, in its column order (binary COPY sends typed values)."""
    found = _types.get(table)
    if found is None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0",
                [table.name],
            )
            oids = dict(cursor.fetchall())
        found = _types[table] = [oids[str(f.column)] for f in table.fields]
    return found


def multirow_orders(orders: list[list[tuple[Table, list[tuple[Any, ...]]]]]) -> None:
    """The same rows as ``execute_orders`` on SQLite, with multi-row ``INSERT … VALUES (…), (…)`` per table in
    one transaction: as many rows per statement as SQLite's limit on bound variables allows."""
    grouped = _by_table(orders)
    with transaction.atomic():
        cursor = driver().cursor()
        for table, rows in grouped.items():
            per_statement = max(1, SQLITE_VARIABLES // len(table.fields))
            for first in range(0, len(rows), per_statement):
                chunk = rows[first : first + per_statement]
                one = "(" + ", ".join(["?"] * len(table.fields)) + ")"
                sql = f"INSERT INTO {table.name} {table.columns} VALUES " + ", ".join([one] * len(chunk))
                cursor.execute(sql, [v for row in chunk for v in row])


# SQLite's default SQLITE_MAX_VARIABLE_NUMBER since 3.32 (the bench's interpreter links 3.40).
SQLITE_VARIABLES = 32766


def floor_methods() -> dict[str, Any]:
    """The ways of writing the rows raw, for this database: the bench takes the fastest of them as the floor."""
    if connection.vendor == "postgresql":
        return {
            "raw_executemany": execute_orders,
            "raw_copy": copy_orders,
            "raw_copy_binary": copy_binary_orders,
        }
    return {"raw_executemany": execute_orders, "raw_multirow": multirow_orders}
