"""``migrate`` as the owner role (``DATABASE_OWNER_URL``) when one is set: the serving role owns no table.

On PostgreSQL it holds an advisory lock for its whole run, so nodes starting together migrate one at a time
(``pipelines.store.schema``).
"""

from typing import Any

from django.conf import settings
from django.core.management.commands.migrate import Command as MigrateCommand
from django.db import connections

from pipelines.store.db_roles import connected_as
from pipelines.store.schema import migrate_lock


class Command(MigrateCommand):
    def handle(self, *args: str, **options: Any) -> None:
        with connected_as(getattr(settings, "TPFGO_DATABASE_OWNER", None), options["database"]):
            with migrate_lock(connections[options["database"]]):
                super().handle(*args, **options)
