"""``setup_db_roles``: create the serving and purge roles and grant them table by table (PostgreSQL; idempotent).

Runs as the owner (``DATABASE_OWNER_URL``, else ``DATABASE_URL``); run it again after every ``migrate``.
"""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from pipelines.store import db_roles
from pipelines.store.schema import migrate_lock


class Command(BaseCommand):
    help = "Create the serving and purge PostgreSQL roles when missing and set their grants (docs/operations.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)
        parser.add_argument("--app-role", default=settings.TPFGO_DB_APP_ROLE, help="the role the app serves as")
        parser.add_argument("--purge-role", default=settings.TPFGO_DB_PURGE_ROLE, help="the audited purge's role")

    def handle(self, *args: str, **options: Any) -> None:
        alias = options["database"]
        if alias not in connections:
            raise CommandError(f"--database {alias!r}: no such database in DATABASES")
        if connections[alias].vendor != "postgresql":
            self.stdout.write(f"setup_db_roles: {connections[alias].vendor} has no roles; nothing to do")
            return
        # Under the migrate lock: nodes starting together grant one at a time (concurrent GRANTs on one object
        # fail with "tuple concurrently updated").
        with db_roles.connected_as(settings.TPFGO_DATABASE_OWNER, alias), migrate_lock(connections[alias]):
            try:
                summary = db_roles.setup(connections[alias], app=options["app_role"], purge=options["purge_role"])
            except db_roles.RoleError as exc:
                raise CommandError(str(exc)) from exc
        if summary.may_create:
            self.stderr.write(
                f"setup_db_roles: warning: {options['app_role']} may create tables in this schema (PostgreSQL before "
                "15 grants CREATE on schema public to PUBLIC); revoke it unless the owner relies on it"
            )
        created = ", ".join(summary.created) or "none"
        tables = ", ".join(f"{count} {kind}" for kind, count in sorted(summary.tables.items()))
        self.stdout.write(
            f"setup_db_roles: serving role {options['app_role']}, purge role {options['purge_role']} "
            f"(created: {created}); tables granted: {tables}"
        )
