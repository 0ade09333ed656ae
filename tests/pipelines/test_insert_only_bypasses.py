"""The ways around UPDATE and DELETE triggers, closed: TRUNCATE on PostgreSQL, REPLACE and UPSERT on SQLite."""

from __future__ import annotations

import datetime
import decimal
import sqlite3
import uuid
from typing import Any

import pytest
from django.apps import apps
from django.core import checks
from django.db import DatabaseError, connection, models, transaction

from pipelines import triggers
from pipelines.models import InsertOnlyModel
from pipelines.store import db_roles

pytestmark = pytest.mark.django_db

MODELS = sorted(
    (m for m in apps.get_models() if issubclass(m, InsertOnlyModel) and not m._meta.proxy and m._meta.managed),
    key=lambda m: m._meta.db_table,
)
IDS = [m._meta.label for m in MODELS]
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE exists on PostgreSQL only")
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="REPLACE is SQLite's")


def _value(field: models.Field[Any, Any]) -> Any:
    if isinstance(field, models.ForeignKey):
        return _insert(field.related_model)  # type: ignore[arg-type]
    kind = field.get_internal_type()
    if kind == "UUIDField":
        return uuid.uuid4()
    if kind in ("CharField", "TextField"):
        return "x"
    if kind == "DecimalField":
        return decimal.Decimal("1")
    if kind == "DateTimeField":
        return datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    if kind == "BooleanField":
        return True
    if kind == "JSONField":
        return {}
    return 7  # the integer kinds, auto keys included


def _insert(model: type[models.Model]) -> Any:
    """One row of placeholder values (the rows it references first), by raw SQL; returns its primary key."""
    qn = connection.ops.quote_name
    fields = model._meta.concrete_fields
    values = {f.column: _value(f) for f in fields}
    params = [f.get_db_prep_save(values[f.column], connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})",
            params,
        )
    return values[model._meta.pk.column]


def one_row(model: type[InsertOnlyModel]) -> tuple[str, str, Any]:
    """Insert one row of ``model``: returns the quoted table, the quoted primary key column and the key's stored
    value."""
    pk = model._meta.pk
    value = _insert(model)
    if connection.vendor == "postgresql":  # check the deferred foreign keys now: TRUNCATE refuses pending ones
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    qn = connection.ops.quote_name
    return qn(model._meta.db_table), qn(pk.column), pk.get_db_prep_value(value, connection)


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return int(cursor.fetchone()[0])


def _refused(sql: str, operation: str, table: str) -> None:
    with pytest.raises(DatabaseError, match=f"tpfgo: {operation} refused on insert-only table"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql)


@postgresql_only
@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_truncate_and_truncate_cascade_are_refused_on_every_insert_only_table(model):
    table, _, _ = one_row(model)
    _refused(f"TRUNCATE {table} CASCADE", "TRUNCATE", table)
    with pytest.raises(DatabaseError) as refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table}")
    # A table that others reference is refused by the foreign keys before any trigger runs.
    assert "TRUNCATE refused on insert-only table" in str(refused.value) or "foreign key" in str(refused.value)
    assert _count(table) == 1


@postgresql_only
def test_plain_truncate_reaches_the_trigger_on_most_tables():
    """The foreign-key refusal above is the exception: a table nothing references meets the trigger itself."""
    table, _, _ = one_row(apps.get_model("pipelines", "CheckpointLog"))
    _refused(f"TRUNCATE {table}", "TRUNCATE", table)
    assert _count(table) == 1


@postgresql_only
def test_the_audited_purge_flag_lets_truncate_through():
    table, _, _ = one_row(apps.get_model("pipelines", "CheckpointLog"))
    with db_roles.purge_allowed("test"), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table}")
    assert _count(table) == 0


@sqlite_only
@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_replace_and_upsert_cannot_rewrite_a_row_of_any_insert_only_table(model):
    table, pk, value = one_row(model)
    copy = f"INSERT INTO {table} SELECT * FROM {table} WHERE true"
    _refused(f"INSERT OR REPLACE INTO {table} SELECT * FROM {table}", "DELETE", table)
    _refused(f"REPLACE INTO {table} SELECT * FROM {table}", "DELETE", table)
    _refused(f"{copy} ON CONFLICT DO UPDATE SET {pk} = excluded.{pk}", "UPDATE", table)
    with connection.cursor() as cursor:  # the engine's idempotent inserts: nothing inserted, nothing refused
        cursor.execute(f"INSERT OR IGNORE INTO {table} SELECT * FROM {table}")
        cursor.execute(f"{copy} ON CONFLICT DO NOTHING")
        cursor.execute(f"SELECT {pk} FROM {table}")
        assert cursor.fetchall() == [(value,)]


@sqlite_only
def test_a_connection_without_recursive_triggers_cannot_insert_and_the_check_says_so():
    model = apps.get_model("pipelines", "CheckpointLog")
    raw = connection.connection
    raw.execute("PRAGMA recursive_triggers = OFF")
    raw.create_function("tpfgo_insert_guard", 0, lambda: 0)  # what the guard answers on such a connection
    try:
        assert triggers.sqlite_unguarded(connection)
        errors = [e for e in checks.run_checks(databases=["default"]) if e.id == "pipelines.E009"]
        assert len(errors) == 1
        with pytest.raises(DatabaseError, match="INSERT without recursive_triggers refused"), transaction.atomic():
            one_row(model)
    finally:
        triggers.guard_sqlite_connection(connection)
    assert _count(connection.ops.quote_name(model._meta.db_table)) == 0
    assert not triggers.sqlite_unguarded(connection)
    assert [e for e in checks.run_checks(databases=["default"]) if e.id == "pipelines.E009"] == []


@sqlite_only
def test_another_program_cannot_insert_or_replace_into_an_insert_only_table():
    model = apps.get_model("pipelines", "CheckpointLog")
    table, _, _ = one_row(model)
    # The table, its row, indexes and triggers, copied into a connection opened the way the sqlite3 shell opens one.
    raw, other = connection.connection, sqlite3.connect(":memory:")
    schema = "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type = ? AND sql IS NOT NULL"
    name = model._meta.db_table
    other.execute(raw.execute(schema, (name, "table")).fetchone()[0])
    rows = raw.execute(f"SELECT * FROM {table}").fetchall()
    other.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    for kind in ("index", "trigger"):
        for (sql,) in raw.execute(schema, (name, kind)).fetchall():
            other.execute(sql)
    for sql in (f"INSERT INTO {table} SELECT * FROM {table}", f"REPLACE INTO {table} SELECT * FROM {table}"):
        with pytest.raises(sqlite3.OperationalError, match="no such function: tpfgo_insert_guard"):
            other.execute(sql)
    assert other.execute(f"SELECT count(*) FROM {table}").fetchone() == (1,)
    other.close()


def test_the_system_check_reports_a_table_missing_its_truncate_or_insert_trigger():
    """The trigger each bypass needs: TRUNCATE's on PostgreSQL, the INSERT guard on SQLite."""
    table = apps.get_model("pipelines", "CheckpointLog")._meta.db_table
    assert triggers.missing(connection) == []
    drop = (
        f"DROP TRIGGER {triggers.PG_TRUNCATE} ON {connection.ops.quote_name(table)}"
        if connection.vendor == "postgresql"
        else f"DROP TRIGGER {triggers.PREFIX}_i_{table}"
    )
    with connection.cursor() as cursor:
        cursor.execute(drop)
    assert triggers.missing(connection) == [table]
    errors = [e for e in checks.run_checks(databases=["default"]) if e.id == "pipelines.E005"]
    assert [e.msg for e in errors] == [f"insert-only triggers missing on default: {table}"]
