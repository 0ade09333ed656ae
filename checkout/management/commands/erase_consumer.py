"""``manage.py erase_consumer CONSUMER_ID --reason WHY``: erase one consumer's personal data (``checkout.personal``).

Destroys the consumer's key (every sealed delivery address, payment token and note of theirs reads ``[erased]``
from then on), replaces their name and payment token on file, and records an ``OpsAction``. Erasing an erased
consumer changes nothing. Prints the ops action's id as JSON.
"""

from __future__ import annotations

import getpass
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from checkout import personal
from pipelines import ServiceError, actions


class Command(BaseCommand):
    help = "Erase one consumer's personal data (crypto-shredding); audited as an ops action."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("consumer_id")
        parser.add_argument("--reason", required=True, help="why (the request's reference; recorded in the OpsAction)")
        parser.add_argument("--actor", default=None, help="who (default: the OS user, prefixed 'cli:')")

    def handle(self, *args: str, **options: Any) -> None:
        actor = str(options["actor"] or f"cli:{getpass.getuser()}")
        try:
            done = personal.erase(options["consumer_id"], actor=actor, reason=options["reason"])
        except ServiceError as exc:
            raise CommandError(exc.summary_naming(actions.WHO_FLAGS)) from None
        answer = {"consumerId": done.consumer_id, "opsActionId": str(done.ops_action_id), "alreadyErased": done.already}
        self.stdout.write(json.dumps(answer))
