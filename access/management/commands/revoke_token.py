"""``manage.py revoke_token NAME``: delete a principal's API token; its calls answer 401 from then on."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from access.tokens import AccessError, revoke_token


class Command(BaseCommand):
    help = "Revoke the API token of the principal NAME (the principal stays; create_token issues a new one)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: str, **options: Any) -> None:
        try:
            revoked = revoke_token(options["name"])
        except AccessError as exc:
            raise CommandError(str(exc))
        self.stdout.write(f"{options['name']}: {'token revoked' if revoked else 'held no token'}")
