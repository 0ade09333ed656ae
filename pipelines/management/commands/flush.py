"""``flush`` with the audited purge flag: test teardown empties insert-only tables through this path only.

With a purge role (``DATABASE_PURGE_URL``) the tables are emptied as that role; sequences then keep their
positions (restarting them needs their owner), and the post-migrate handlers (content types, permissions, the
triggers and derived tables) run afterwards as the owner, whose objects they change.
"""

from typing import Any

from django.conf import settings
from django.core.management.commands.flush import Command as FlushCommand
from django.core.management.sql import emit_post_migrate_signal

from pipelines.store.db_roles import connected_as, purge_allowed


class Command(FlushCommand):
    def handle(self, **options: Any) -> None:
        database = options["database"]
        through_purge_role = bool(getattr(settings, "TPFGO_DATABASE_PURGE", None))
        post_migrate = not options.get("inhibit_post_migrate", False)
        if through_purge_role:
            options.update(reset_sequences=False, inhibit_post_migrate=True)
        with purge_allowed("flush", using=database):
            super().handle(**options)
        if through_purge_role and post_migrate:
            with connected_as(getattr(settings, "TPFGO_DATABASE_OWNER", None), database):
                emit_post_migrate_signal(options["verbosity"], options["interactive"], database)
