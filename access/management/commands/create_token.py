"""``manage.py create_token KIND [--for ID] [--name NAME]``: a principal's API token, printed once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from access.scopes import KINDS
from access.tokens import AccessError, create_token


class Command(BaseCommand):
    help = "Create an API token for a principal of KIND, bound to --for (consumer, restaurant or courier id)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=list(KINDS))
        parser.add_argument("--for", dest="binding", default="", help="the consumer, restaurant or courier id")
        parser.add_argument("--name", default="", help="the principal's name (default: KIND-ID, or KIND)")

    def handle(self, *args: str, **options: Any) -> None:
        try:
            issued = create_token(kind=options["kind"], binding=options["binding"], name=options["name"])
        except AccessError as exc:
            raise CommandError(str(exc))
        bound = f" for {KINDS[issued.kind].binds} {issued.binding}" if issued.binding else ""
        self.stderr.write(f"{issued.name}: {issued.kind}{bound}; scopes {' '.join(KINDS[issued.kind].scopes)}")
        self.stderr.write("the key is shown once; send it as 'Authorization: Token <key>'")
        self.stdout.write(issued.key)
