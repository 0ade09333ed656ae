"""Insert-only, enforced by the queryset, the instance and the database (PostgreSQL and SQLite)."""

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from pipelines import triggers
from pipelines.contracts.errors import InsertOnlyViolation
from pipelines.models import CheckpointLog, LineageLink
from pipelines.store import db_roles
from tests.lane.models import DocumentReceived, TokenIndexed

pytestmark = pytest.mark.django_db


@pytest.fixture
def indexed(lane_engine):
    execution = lane_engine.start("ingest", {"text": "beta alpha"}, "doc-1")
    assert not execution.failures()
    return execution


def test_queryset_update_delete_bulk_update_and_update_or_create_are_refused(indexed):
    tokens = TokenIndexed.objects.all()
    with pytest.raises(InsertOnlyViolation, match="lane.TokenIndexed is insert-only: update refused"):
        tokens.update(token="x")
    with pytest.raises(InsertOnlyViolation, match="delete refused"):
        tokens.delete()
    with pytest.raises(InsertOnlyViolation, match="bulk_update refused"):
        TokenIndexed.objects.bulk_update(list(tokens), ["token"])
    with pytest.raises(InsertOnlyViolation, match="update_or_create refused"):
        TokenIndexed.objects.update_or_create(token="alpha", defaults={"position": 9})
    with pytest.raises(InsertOnlyViolation, match="update refused"):
        LineageLink.objects.filter(child_type="TokenIndexed").update(ordinal=5)
    assert sorted(TokenIndexed.objects.values_list("token", flat=True)) == ["alpha", "beta"]


def test_saving_or_deleting_an_existing_instance_is_refused(indexed):
    token = TokenIndexed.objects.get(token="alpha")
    token.position = 42
    with pytest.raises(InsertOnlyViolation, match="save of an existing row"):
        token.save()
    with pytest.raises(InsertOnlyViolation, match="delete refused"):
        token.delete()
    assert TokenIndexed.objects.get(token="alpha").position == 0


@pytest.mark.parametrize("model", [DocumentReceived, CheckpointLog], ids=["checkpoint", "ledger"])
def test_raw_sql_update_and_delete_are_refused_by_the_database(indexed, model):
    table = connection.ops.quote_name(model._meta.db_table)
    before = model.objects.count()
    assert before > 0
    for sql in (f"UPDATE {table} SET created_at = created_at", f"DELETE FROM {table}"):
        with pytest.raises(DatabaseError, match="refused on insert-only table"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql)
    assert model.objects.count() == before


def test_the_audited_purge_flag_is_the_only_way_to_delete(indexed):
    table = connection.ops.quote_name(CheckpointLog._meta.db_table)
    with db_roles.purge_allowed("test"), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")
    assert CheckpointLog.objects.count() == 0
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {connection.ops.quote_name(LineageLink._meta.db_table)}")


@pytest.mark.django_db(transaction=True)
def test_triggers_come_back_after_a_migration_that_rebuilds_a_table():
    assert triggers.missing(connection) == []
    if connection.vendor == "sqlite":
        with connection.schema_editor() as editor:
            editor._remake_table(TokenIndexed)  # what an AlterField does on SQLite
    else:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER {triggers.PREFIX} ON {TokenIndexed._meta.db_table}")
    assert triggers.missing(connection) == [TokenIndexed._meta.db_table]
    call_command("migrate", verbosity=0)
    assert triggers.missing(connection) == []
