"""The PostgreSQL roles (pipelines.store.db_roles): the serving role inserts and reads facts and nothing more, the purge
role empties tables, migrations run as the owner, and ``setup_db_roles`` is idempotent."""

from __future__ import annotations

import io
from collections.abc import Iterator

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import ProgrammingError, connection

from checkout import reference
from checkout.models import Consumer, Courier, CourierLoad, OpenTicket
from pipelines.store import db_roles
from pipelines.store.db_roles import RoleError, connected_as, purge_allowed
from tests.checkout.conftest import checkpoint_types, place
from tests.checkout.test_happy_path import HAPPY
from tests.conftest import PgRoles, all_insert_only_counts

CHECKPOINT = "order_request_orderrequest"
LEDGER = "pipelines_checkpointlog"
REFUSED = "InsufficientPrivilege"
ITEMS = [{"menuItemId": "margherita", "quantity": 2}, {"menuItemId": "tiramisu", "quantity": 1}]  # HAPPY's order


@pytest.fixture
def as_role(pg_roles: PgRoles) -> Iterator[psycopg.Connection]:
    """A plain autocommit connection to the test database as the serving role."""
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"], user=pg_roles.app, host=settings["HOST"], port=settings["PORT"], autocommit=True
    ) as conn:
        yield conn


def attempt(conn: psycopg.Connection, sql: str) -> str:
    """``ok``, or the class of the error PostgreSQL answered with."""
    try:
        conn.execute(sql)
    except psycopg.Error as exc:
        return type(exc).__name__
    return "ok"


def current_user() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        return str(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_the_serving_role_cannot_update_delete_truncate_or_disable_triggers_on_insert_only_tables(demo_data, as_role):
    order_id = place(items=ITEMS).view["orderId"]
    before = all_insert_only_counts()
    answers = {
        (table, verb): attempt(as_role, sql.format(table=table))
        for table in (CHECKPOINT, LEDGER)
        for verb, sql in {
            "update": "UPDATE {table} SET created_at = created_at",
            "delete": "DELETE FROM {table}",
            "truncate": "TRUNCATE {table}",
            "truncate cascade": "TRUNCATE {table} CASCADE",
            "disable trigger": "ALTER TABLE {table} DISABLE TRIGGER ALL",
            "purge flag, then delete": "SELECT set_config('tpfgo.purge', 'on', false); DELETE FROM {table}",
        }.items()
    }

    assert answers == {key: REFUSED for key in answers}
    assert all_insert_only_counts() == before
    assert before["order_request.OrderRequest"] == 1 and checkpoint_types(order_id) == HAPPY


@pytest.mark.django_db(transaction=True)
def test_the_serving_role_cannot_write_a_derived_table_create_a_table_or_hold_the_trigger_privilege(demo_data, as_role):
    answers = [
        attempt(as_role, "INSERT INTO checkout_courierload (courier_id, active) VALUES ('courier-ann', 5)"),
        attempt(as_role, "DELETE FROM checkout_openticket"),
        attempt(as_role, "DELETE FROM pipelines_openparked"),
        attempt(as_role, "CREATE TABLE tpfgo_test_own_table (id bigint)"),
    ]
    privileges = as_role.execute(
        "SELECT has_table_privilege(%s, 'TRIGGER'), has_table_privilege(%s, 'REFERENCES'), "
        "(SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user))",
        [CHECKPOINT, CHECKPOINT],
    ).fetchone()

    assert answers == [REFUSED, REFUSED, REFUSED, REFUSED]
    assert privileges == (False, False, 0)
    assert CourierLoad.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_an_order_runs_end_to_end_as_the_serving_role(demo_data, pg_roles):
    with connected_as(pg_roles.credentials(pg_roles.app)):
        assert current_user() == pg_roles.app
        view = place(items=ITEMS).view
        types = checkpoint_types(view["orderId"])
        # The derived tables, kept by triggers that run as their owner: the courier is free again, no ticket open.
        loads = dict(CourierLoad.objects.values_list("courier_id", "active"))
        open_tickets = OpenTicket.objects.count()
    assert current_user() != pg_roles.app

    assert view["state"] == "COMPLETED" and view["courierId"] == "courier-ann"
    assert types == HAPPY
    assert loads == {"courier-ann": 0}
    assert open_tickets == 0


@pytest.mark.django_db(transaction=True)
def test_the_serving_role_makes_the_writes_mutable_tables_need(demo_data, pg_roles):
    with connected_as(pg_roles.credentials(pg_roles.app)):
        reference.set_courier_availability("courier-ann", False)
        Consumer.objects.create(id="zoe", name="Zoe")
        Consumer.objects.filter(pk="zoe").update(active=False)
        Consumer.objects.filter(pk="bob").delete()

    assert Courier.objects.get(pk="courier-ann").available is False
    assert dict(Consumer.objects.filter(pk__in=["zoe", "bob"]).values_list("id", "active")) == {"zoe": False}


@pytest.mark.django_db(transaction=True)
def test_the_audited_purge_runs_as_the_purge_role_and_the_serving_role_cannot_purge(demo_data, pg_roles, settings):
    order_id = place(items=ITEMS).view["orderId"]
    before = all_insert_only_counts()
    with connected_as(pg_roles.credentials(pg_roles.app)), purge_allowed("test"), connection.cursor() as cursor:
        with pytest.raises(ProgrammingError, match="permission denied for table"):
            cursor.execute(f"DELETE FROM {LEDGER}")
    assert all_insert_only_counts() == before and checkpoint_types(order_id) == HAPPY

    settings.TPFGO_DATABASE_PURGE = pg_roles.credentials(pg_roles.purge)
    with purge_allowed("test"):
        purged_by = current_user()
    call_command("flush", interactive=False, verbosity=0)

    assert purged_by == pg_roles.purge
    assert set(all_insert_only_counts().values()) == {0}
    assert Consumer.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_migrate_connects_as_the_owner_url(pg_roles, settings):
    # As the serving role, migrate's trigger installation (the owner's functions) is refused: it did connect so.
    settings.TPFGO_DATABASE_OWNER = pg_roles.credentials(pg_roles.app)
    with pytest.raises(ProgrammingError, match="permission denied for schema|must be owner"):
        call_command("migrate", verbosity=0)
    assert current_user() != pg_roles.app


def grants(role: str) -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants WHERE grantee = %s", [role]
        )
        return set(cursor.fetchall())


@pytest.mark.django_db
def test_setup_db_roles_is_idempotent_and_a_new_table_gets_the_insert_only_floor(pg_roles):
    app, purge = grants(pg_roles.app), grants(pg_roles.purge)
    out = io.StringIO()
    call_command("setup_db_roles", app_role=pg_roles.app, purge_role=pg_roles.purge, stdout=out)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE tpfgo_test_new_table (id bigint PRIMARY KEY)")

    assert "(created: none)" in out.getvalue()
    assert {g for g in grants(pg_roles.app) if g[0] != "tpfgo_test_new_table"} == app
    assert grants(pg_roles.purge) == purge
    assert {p for t, p in app if t == CHECKPOINT} == {"SELECT", "INSERT"}
    assert {p for t, p in app if t == LEDGER} == {"SELECT", "INSERT"}
    assert {p for t, p in app if t == "checkout_courier"} == {"SELECT", "INSERT", "UPDATE", "DELETE"}
    assert {t for t, p in app if p == "SELECT"} - {t for t, p in app if p != "SELECT"} == {
        "checkout_courierload",
        "checkout_openticket",
        "pipelines_flowrule",
        "pipelines_openparked",
        "pipelines_openposition",
        "pipelines_openwait",
        "django_migrations",
    }
    assert {p for t, p in app if t == "django_migrations"} == {"SELECT"}
    assert {p for t, p in purge if t == LEDGER} == {"SELECT", "DELETE", "TRUNCATE"}
    assert {p for t, p in grants(pg_roles.app) if t == "tpfgo_test_new_table"} == {"SELECT", "INSERT"}


@pytest.mark.django_db
def test_setup_db_roles_refuses_a_superuser_as_the_serving_role(pg_roles):
    owner = current_user()
    purge = f"{pg_roles.purge}_unused"
    with pytest.raises(CommandError, match="superuser"):
        call_command("setup_db_roles", app_role=owner, purge_role=purge, stdout=io.StringIO())
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [purge])
        assert cursor.fetchone() == (0,)


@pytest.mark.parametrize(
    "name", ["", "r" * 64, "é" * 32, 'x" SUPERUSER; --', "tab\there"], ids=["empty", "64", "64bytes", "quote", "tab"]
)
def test_setup_db_roles_refuses_a_role_name_it_cannot_quote_or_postgresql_would_cut(name):
    with pytest.raises(RoleError, match="1 to 63 bytes, without a double quote or a control character"):
        db_roles.setup(connection, app=name, purge="tpfgo_purge")
    with pytest.raises(RoleError, match="1 to 63 bytes"):
        db_roles.setup(connection, app="tpfgo_app", purge=name)


@pytest.mark.django_db
def test_a_role_cannot_be_switched_inside_a_transaction(pg_roles):
    with pytest.raises(RuntimeError, match="inside a transaction"):
        with connected_as(pg_roles.credentials(pg_roles.app)):
            pass


@pytest.fixture
def demo_data(db: None) -> None:
    from checkout import demo

    demo.load()


@pytest.mark.django_db(transaction=True)
def test_the_serving_role_gives_ftgo_numbers_a_couriers_past_a_java_int_from_the_sequence(pg_roles):
    """ftgo.aliases takes a courier's number from the ledger's sequence itself (nextval): the role may."""
    from ftgo import aliases
    from ftgo.models import FtgoAlias

    with connected_as(pg_roles.credentials(pg_roles.app)):
        consumer = aliases.number_for(FtgoAlias.CONSUMER, "ann")
        courier = aliases.number_for(FtgoAlias.COURIER, "courier-ann")
    assert courier == aliases.COURIERS_FROM + consumer + 1
    assert dict(FtgoAlias.objects.values_list("tpfgo_id", "number")) == {"ann": consumer, "courier-ann": courier}
