"""``check_contracts``: every handoff contract problem at once, non-zero on any error or warning.

``--update-lock`` first records the composition's publications in the contracts lock, unless that would record a
breaking change under an unchanged version or overwrite an entry edited by hand.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipelines.contracts import checks as contract_checks
from pipelines.contracts import lock as contract_lock


class Command(BaseCommand):
    help = "Check the composition's handoff contracts and the contracts lock; --update-lock records additive changes."
    # The contract checks are themselves system checks: running them first would stop before this report.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--update-lock",
            action="store_true",
            help="Write the composition's contracts to the lock (refused for a breaking change without a new .vN).",
        )

    def handle(self, *args: object, **options: object) -> None:
        if options["update_lock"]:
            self.update_lock()
        problems = contract_checks.problems_in_force()
        if problems:
            self.stderr.write(contract_checks.report(problems))
            raise CommandError(f"contract checks failed: {contract_checks.counts(problems)}")
        composition, _ = contract_checks.load_composition()
        assert composition is not None
        self.stdout.write(
            f"contracts OK: {len(contract_lock.current(composition))} publications, "
            f"{len(composition.subscriptions)} subscriptions, lock {contract_checks.lock_path()}"
        )

    def update_lock(self) -> None:
        composition, problem = contract_checks.load_composition()
        path = contract_checks.lock_path()
        lock, lock_problem = contract_checks.load_lock(path)
        blocking = [p for p in (problem, lock_problem) if p is not None and p.is_error]
        if composition is None or blocking:
            self.stderr.write(contract_checks.report(blocking))
            raise CommandError(f"contracts lock not updated: {contract_checks.counts(blocking)}")
        update = contract_lock.updated(composition, lock)
        if update.refusals:
            self.stderr.write(contract_checks.report(update.refusals))
            raise CommandError(f"contracts lock not updated: {contract_checks.counts(update.refusals)}")
        if update.lock == lock:
            self.stdout.write(f"contracts lock {path} is up to date")
            return
        contract_lock.write(path, update.lock)
        self.stdout.write(f"contracts lock {path} written:")
        for note in update.notes:
            self.stdout.write(f"  {note}")
