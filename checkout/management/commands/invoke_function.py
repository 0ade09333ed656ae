"""``manage.py invoke_function --event FILE``: run the FUNCTION handler on an API-gateway event, print the answer."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from checkout.function import handler


class Command(BaseCommand):
    help = "Invoke checkout.function.handler with an API-gateway proxy event (a JSON file, or - for stdin)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--event", required=True, help="the event JSON file, or - to read it from stdin")

    def handle(self, *args: str, **options: Any) -> None:
        source = options["event"]
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
            event = json.loads(text)
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the event {source}: {exc}")
        except RecursionError:
            raise CommandError(f"cannot read the event {source}: nested too deep") from None
        if not isinstance(event, dict):
            raise CommandError("the event must be a JSON object")
        self.stdout.write(json.dumps(handler(event, None), indent=2))
