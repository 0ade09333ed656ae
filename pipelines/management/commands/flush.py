"""``flush`` with the audited purge flag: test teardown empties insert-only tables through this path only."""

from typing import Any

from django.core.management.commands.flush import Command as FlushCommand

from pipelines.triggers import purge_allowed


class Command(FlushCommand):
    def handle(self, **options: Any) -> None:
        with purge_allowed("flush", using=options["database"]):
            super().handle(**options)
