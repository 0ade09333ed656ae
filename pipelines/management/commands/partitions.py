"""``manage.py partitions``: create the coming months' partitions of the log and the lineage (PostgreSQL).

    manage.py partitions               # create what is missing up to TPFGO_PARTITION_MONTHS_AHEAD months ahead
    manage.py partitions --months 12   # further ahead
    manage.py partitions --list        # the partitions there are, and the rows each default partition holds

Beat runs the same once a day (``pipelines.ensure_partitions``). It is idempotent, runs as the owner role when
``DATABASE_OWNER_URL`` is set, else as the purge role when ``DATABASE_PURGE_URL`` is (through the owner's function,
``pipelines.store.partition_functions``), and moves the rows a default partition holds for a month into that month's
new partition. On SQLite it does nothing.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from django.utils import timezone

from pipelines.store import db_roles, partition_functions, partitions

MAX_MONTHS = partition_functions.MAX_MONTHS_AHEAD  # ten years ahead


class Command(BaseCommand):
    help = "Create the coming months' partitions of the checkpoint log and the lineage (PostgreSQL only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--months", type=int, help="months ahead (default: TPFGO_PARTITION_MONTHS_AHEAD)")
        parser.add_argument("--list", action="store_true", help="list the partitions, create nothing")
        parser.add_argument("--database", default="default")

    def handle(self, *args: str, **options: Any) -> None:
        using = options["database"]
        if using not in connections:
            raise CommandError(f"--database {using!r}: no such database in DATABASES")
        months = settings.TPFGO_PARTITION_MONTHS_AHEAD if options["months"] is None else options["months"]
        if not 0 <= months <= MAX_MONTHS:
            raise CommandError(f"--months must be from 0 to {MAX_MONTHS}")
        connection = connections[using]
        if not all(partitions.partitioned(connection, table) for table in partitions.tables()):
            self.stdout.write(f"{connection.vendor}: the log and the lineage are not partitioned here; nothing to do")
            return
        if options["list"]:
            self._list(using)
            return
        role = getattr(settings, "TPFGO_DATABASE_OWNER", None) or getattr(settings, "TPFGO_DATABASE_PURGE", None)
        with db_roles.connected_as(role, using):
            created = partitions.ensure(now=timezone.now(), months_ahead=months, using=using)
        for name in created:
            self.stdout.write(f"created {name}")
        self.stdout.write(f"{len(created)} partition(s) created, {months} month(s) ahead covered")

    def _list(self, using: str) -> None:
        connection = connections[using]
        for table in partitions.tables():
            for part in partitions.listed(connection, table):
                if part.default:
                    rows = partitions.default_rows(connection, table)
                    self.stdout.write(f"{part.name}: DEFAULT, {rows} row(s)")
                else:
                    self.stdout.write(f"{part.name}: {part.start:%Y-%m-%d} to {part.end:%Y-%m-%d}")
