"""``manage.py purge``: remove what the retention policy let expire, now (beat runs the same every hour).

    manage.py purge --dry-run                 # per policy: what would go, rows per table; nothing is written
    manage.py purge                           # do it: bounded batches, each atomic, each with a purge record
    manage.py purge --policy orders --batch 500

Policies and their ages are ``TPFGO_RETENTION`` (docs/operations.md, "Retention and tombstones"). A run cut short
(killed, a database error) removed whole batches only; run it again.
"""

from __future__ import annotations

import getpass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipelines.contracts.text import NOT_A_NAME
from pipelines.recovery import retention

MAX_BATCH = 1_000_000  # orders (or rows) per transaction
MAX_ACTOR = 200  # PurgeRecord.actor's column


class Command(BaseCommand):
    help = "Remove expired data by the retention policy (TPFGO_RETENTION); --dry-run lists rows per table."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count what would be removed, change nothing")
        parser.add_argument(
            "--policy", action="append", choices=retention.POLICIES, help="only this policy (repeatable)"
        )
        parser.add_argument("--batch", type=int, help="orders (or rows) per transaction (TPFGO_RETENTION_BATCH)")
        parser.add_argument("--actor", default=None, help="who runs it, for the purge records (default: OS user)")

    def handle(self, *args: str, **options: Any) -> None:
        if options["batch"] is not None and not 1 <= options["batch"] <= MAX_BATCH:
            raise CommandError(f"--batch must be from 1 to {MAX_BATCH}")
        given = options["actor"]
        if given is not None and (not given.strip() or len(given) > MAX_ACTOR or NOT_A_NAME.search(given)):
            raise CommandError(f"--actor must be 1 to {MAX_ACTOR} characters, not blank, without control characters")
        actor = options["actor"] or f"manage.py purge by {getpass.getuser()}"
        dry_run = options["dry_run"]
        try:
            outcomes = retention.purge(
                actor=actor,
                policies=list(dict.fromkeys(options["policy"] or retention.POLICIES)),  # a policy named twice runs once
                dry_run=dry_run,
                batch_size=options["batch"],
            )
        except ImproperlyConfigured as exc:  # a retention setting no run may use: refused before anything goes
            raise CommandError(str(exc)) from None
        verb = "would remove" if dry_run else "removed"
        for outcome in outcomes:
            if outcome.cutoff is None:
                self.stdout.write(f"{outcome.policy}: kept forever (TPFGO_RETENTION)")
                continue
            self.stdout.write(
                f"{outcome.policy}: {verb} {outcome.items} older than {outcome.cutoff:%Y-%m-%d %H:%M} UTC "
                f"in {outcome.batches} batches"
            )
            for table, n in sorted(outcome.rows.items()):
                self.stdout.write(f"  {table}: {n}")
