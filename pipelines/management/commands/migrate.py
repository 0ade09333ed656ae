"""``migrate`` as the owner role (``DATABASE_OWNER_URL``) when one is set: the serving role owns no table."""

from typing import Any

from django.conf import settings
from django.core.management.commands.migrate import Command as MigrateCommand

from pipelines.store.db_roles import connected_as


class Command(MigrateCommand):
    def handle(self, *args: str, **options: Any) -> None:
        with connected_as(getattr(settings, "TPFGO_DATABASE_OWNER", None), options["database"]):
            super().handle(*args, **options)
