"""PostgreSQL roles: the owner migrates, the serving role inserts and reads facts, the purge role empties tables.

The owner (``DATABASE_OWNER_URL``) owns every table, runs ``migrate`` and ``setup_db_roles`` and owns the trigger
functions that keep the derived tables (they run as their owner: ``SECURITY DEFINER``). The serving role (the
user of ``DATABASE_URL``) gets, table by table, only what its kind needs (``pipelines.store.classification``):

- checkpoint and ledger tables: SELECT and INSERT (no UPDATE, DELETE, TRUNCATE, TRIGGER, no ownership, so no
  ``ALTER TABLE ... DISABLE TRIGGER`` either);
- derived tables (``tpfgo_derived`` on the model): SELECT, since their triggers write them as the owner;
- mutable tables: SELECT, INSERT, UPDATE and DELETE;
- tables without a model (``django_migrations``): SELECT.

The purge role (``DATABASE_PURGE_URL``) may SELECT, DELETE and TRUNCATE model tables, and INSERT its own records
(purge records and tombstones): the audited purge (``purge_allowed``: ``manage.py purge``, ``manage.py flush``)
connects as it, and still needs the purge flag past the triggers. It alone may EXECUTE the owner's partition
functions (``pipelines.store.partition_functions``): beat's partition task and the whole-month drop run as it.
Grants are set in one transaction, revoked first, so a re-run after every migrate also takes away what a table's
new kind no longer allows. Default privileges give a table a migration creates SELECT and INSERT until then.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper

from pipelines import triggers
from pipelines.contracts.text import NOT_A_NAME
from pipelines.store import partition_functions
from pipelines.store.classification import classify

CREDENTIALS = ("USER", "PASSWORD", "HOST", "PORT")

# What the serving role may do on a table of each kind.
APP_PRIVILEGES = {
    "checkpoint": "SELECT, INSERT",
    "ledger": "SELECT, INSERT",
    "derived": "SELECT",
    "mutable": "SELECT, INSERT, UPDATE, DELETE",
    "other": "SELECT",
}
PURGE_PRIVILEGES = "SELECT, DELETE, TRUNCATE"
# The purge's own records, which the purge role writes in each batch's transaction (pipelines.recovery.retention).
PURGE_WRITES = frozenset({"pipelines_purgerecord", "pipelines_tombstone"})


class RoleError(Exception):
    """A role that must not serve (a superuser, the owner itself or one of its members): nothing was granted."""


@dataclass(frozen=True)
class Summary:
    """What ``setup`` did: roles created, and tables granted per kind."""

    created: tuple[str, ...]
    tables: Mapping[str, int]
    may_create: bool  # the serving role may create tables in the schema (PUBLIC's CREATE before PostgreSQL 15)


def table_kinds(connection: BaseDatabaseWrapper) -> dict[str, str]:
    """Every table of this database by kind: checkpoint, ledger, derived, mutable or other (no model)."""
    kinds = dict.fromkeys(connection.introspection.table_names(), "other")
    for model in apps.get_models(include_auto_created=True):
        table = model._meta.db_table
        if table not in kinds or model._meta.proxy or not model._meta.managed:
            continue
        kind = "derived" if getattr(model, "tpfgo_derived", False) else classify(model)
        kinds[table] = kind or "other"  # an unclassified model is pipelines.E001; it gets the least meanwhile
    return kinds


def _exists(cursor: CursorWrapper, role: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    return cursor.fetchone() is not None


def _refuse_unsafe(cursor: CursorWrapper, role: str) -> None:
    cursor.execute(
        "SELECT rolsuper OR rolbypassrls, pg_has_role(%s, current_user, 'MEMBER') FROM pg_roles WHERE rolname = %s",
        [role, role],
    )
    privileged, member = cursor.fetchone()
    if privileged:
        raise RoleError(f"role {role} is a superuser or bypasses row security: it cannot be a restricted role")
    if member:
        raise RoleError(f"role {role} is the owner or one of its members: it would hold the owner's privileges")


def statements(connection: BaseDatabaseWrapper, app: str, purge: str) -> list[str]:
    """The grants, in order: revoke everything, then grant per table and set the default privileges."""
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema(), current_database()")
        schema, database = (q(name) for name in cursor.fetchone())
    roles = f"{q(app)}, {q(purge)}"
    sql = [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {roles}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {roles}",
        f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {schema} FROM {roles}",
        f"GRANT CONNECT ON DATABASE {database} TO {roles}",
        f"GRANT USAGE ON SCHEMA {schema} TO {roles}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {roles}",
    ]
    for table, kind in sorted(table_kinds(connection).items()):
        sql.append(f"GRANT {APP_PRIVILEGES[kind]} ON {schema}.{q(table)} TO {q(app)}")
        if kind != "other":
            extra = ", INSERT" if table in PURGE_WRITES else ""
            sql.append(f"GRANT {PURGE_PRIVILEGES}{extra} ON {schema}.{q(table)} TO {q(purge)}")
    # The owner's partition functions (made by migrate): the purge role alone, which the Celery workers connect as.
    for name in partition_functions.installed(connection):
        sql.append(f"GRANT EXECUTE ON FUNCTION {schema}.{partition_functions.SIGNATURES[name]} TO {q(purge)}")
    # A table the next migration creates: the insert-only floor until setup_db_roles runs again.
    sql.append(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT, INSERT ON TABLES TO {q(app)}")
    sql.append(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {roles}")
    return sql


MAX_ROLE_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1: it silently truncates a longer identifier


def setup(connection: BaseDatabaseWrapper, *, app: str, purge: str) -> Summary:
    """Create the serving and purge roles when missing (LOGIN, nothing more) and set their grants; idempotent."""
    for role in (app, purge):  # quote_name does not escape a double quote, and PostgreSQL cuts a longer name
        if not role or len(role.encode()) > MAX_ROLE_BYTES or '"' in role or NOT_A_NAME.search(role):
            raise RoleError(
                f"role name {role!r}: 1 to {MAX_ROLE_BYTES} bytes, without a double quote or a control character"
            )
    if connection.vendor != "postgresql":
        raise RoleError(f"database roles need PostgreSQL (this database is {connection.vendor})")
    if app == purge:
        raise RoleError("the serving role and the purge role must differ")
    created = []
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        for role in (app, purge):
            if not _exists(cursor, role):
                cursor.execute(
                    f"CREATE ROLE {connection.ops.quote_name(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                    "NOREPLICATION NOBYPASSRLS"
                )
                created.append(role)
            _refuse_unsafe(cursor, role)
        for statement in statements(connection, app, purge):
            cursor.execute(statement)
        cursor.execute("SELECT has_schema_privilege(%s, current_schema(), 'CREATE')", [app])
        (may_create,) = cursor.fetchone()
    counts: dict[str, int] = {}
    for kind in table_kinds(connection).values():
        counts[kind] = counts.get(kind, 0) + 1
    return Summary(created=tuple(created), tables=counts, may_create=may_create)


@contextmanager
def connected_as(credentials: Mapping[str, str] | None, using: str = "default") -> Iterator[None]:
    """Run the block on connection ``using`` reconnected with ``credentials`` (user, password, host, port; the
    database stays), then reconnect as before. ``None`` or a non-PostgreSQL database: the block runs as it is."""
    connection = connections[using]
    if not credentials or connection.vendor != "postgresql":
        yield
        return
    if connection.in_atomic_block:
        raise RuntimeError(f"cannot switch {using}'s role inside a transaction")
    saved = {key: connection.settings_dict.get(key, "") for key in CREDENTIALS}
    connection.close()
    connection.settings_dict.update({key: credentials.get(key, "") for key in CREDENTIALS})
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)


@contextmanager
def purge_allowed(reason: str, using: str = "default") -> Iterator[None]:
    """Let DELETE through the triggers on this connection, for an audited reason (test teardown, retention).

    With a purge role configured (``DATABASE_PURGE_URL``) the connection is reconnected as that role for the
    block (the serving role may not delete from insert-only tables at all), so it cannot run inside a transaction.
    """
    with connected_as(getattr(settings, "TPFGO_DATABASE_PURGE", None), using):
        with triggers.purge_flag(reason, using):
            yield
