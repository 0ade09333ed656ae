"""``flush`` with the audited purge flag: test teardown empties insert-only tables through this path only.

With a purge role (``DATABASE_PURGE_URL``) it connects as that role; sequences then keep their positions
(restarting them needs their owner).
"""

from typing import Any

from django.conf import settings
from django.core.management.commands.flush import Command as FlushCommand

from pipelines.triggers import purge_allowed


class Command(FlushCommand):
    def handle(self, **options: Any) -> None:
        if getattr(settings, "TPFGO_DATABASE_PURGE", None):
            options["reset_sequences"] = False
        with purge_allowed("flush", using=options["database"]):
            super().handle(**options)
