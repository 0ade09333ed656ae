"""``manage.py check_schema``: exit 1 with what to do when the database lacks this code's migrations.

``bin/node`` runs it before starting any server, so a node of a newer release never serves a schema that is
behind (``pipelines.store.schema``).
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from pipelines.store.schema import SchemaBehind, refuse_if_behind


class Command(BaseCommand):
    help = "Exit 1 when the database has unapplied migrations (a node must not serve it yet)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--process", default="this node", help="what refuses to start, for the message")

    def handle(self, *args: str, **options: Any) -> None:
        try:
            refuse_if_behind(options["process"])
        except SchemaBehind as exc:
            raise CommandError(str(exc), returncode=1) from None
