"""``manage.py remediate ACTION ORDER_ID``: preview or run an ops remediation from a script.

Without ``--expected-seq`` the command previews first and executes against that preview's position, so a script
still fails closed if the order moves on between the two. ``--preview`` only prints what would be inserted.
"""

from __future__ import annotations

import getpass
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from checkout import ops_actions
from pipelines.contracts.status import ServiceError


class Command(BaseCommand):
    help = "Preview or run a remediation (redrive, assign-courier, ops-cancel, resolve-payment-review) on an order."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=ops_actions.ACTIONS)
        parser.add_argument("order_id")
        parser.add_argument("--reason", help="why (required to execute; recorded in the OpsAction)")
        parser.add_argument("--actor", default=None, help="who (default: the OS user, prefixed 'cli:')")
        parser.add_argument("--courier", dest="courier_id", help="assign-courier: the courier id")
        decision = parser.add_mutually_exclusive_group()
        decision.add_argument("--approve", dest="approved", action="store_true", default=None)
        decision.add_argument("--decline", dest="approved", action="store_false")
        parser.add_argument("--preview", action="store_true", help="print what would be inserted; change nothing")
        parser.add_argument("--expected-seq", type=int, help="the expectedSeq of an earlier preview")

    def handle(self, *args: Any, **options: Any) -> None:
        action, order_id = options["action"], options["order_id"]
        params = {k: options[k] for k in ops_actions.PARAMS[action] if options.get(k) is not None}
        try:
            shown = ops_actions.preview(action, order_id, **params)
            if options["preview"]:
                self._print(shown)
                return
            expected = options["expected_seq"] if options["expected_seq"] is not None else shown["expectedSeq"]
            actor = options["actor"] or f"cli:{getpass.getuser()}"
            view = ops_actions.execute(
                action, order_id, actor=actor, reason=options["reason"] or "", expected_seq=expected, **params
            )
        except ServiceError as exc:
            raise CommandError(f"{exc.code}: {exc.message}")
        self._print(view)

    def _print(self, data: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str))
