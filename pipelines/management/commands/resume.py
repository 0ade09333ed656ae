"""``manage.py resume PIPELINE.STEP [--key NAME=VALUE] --reason WHY`` (or ``--id PAUSE_ID``): end a pause.

The held items drain at ``TPFGO_PAUSE_DRAIN_PER_INTERVAL`` every ``TPFGO_PAUSE_DRAIN_INTERVAL_SECONDS`` (the
worker does it); ``--progress`` prints how far a pause's drain has gone. See docs/operations.md, "Pausing a step".
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipelines.contracts.status import ServiceError
from pipelines.engine.registry import composition
from pipelines.management.commands.pause import FIELD_FLAGS, actor, scope, where
from pipelines.models import StepPause
from pipelines.recovery import drain, pausing


class Command(BaseCommand):
    help = "Resume a paused step: its held items drain at the configured rate."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("step", nargs="?", help="PIPELINE.STEP of the active pause")
        parser.add_argument("--key", help="NAME=VALUE of the active pause, when it was paused for one value")
        parser.add_argument("--id", dest="pause_id", help="the pause's id instead of its step and key")
        parser.add_argument("--reason", help="why (required; recorded in the OpsAction)")
        parser.add_argument("--actor", default=None, help="who (default: the OS user, prefixed 'cli:')")
        parser.add_argument("--progress", action="store_true", help="print the pause's drain; change nothing")

    def handle(self, *args: str, **options: Any) -> None:
        if options["progress"] and (options["reason"] is not None or options["actor"] is not None):
            # --progress changes nothing: with a reason the operator meant to resume, and would see a drain
            raise CommandError("INVALID_ARGUMENT: --progress only reads a drain; resume without it (--reason) first")
        try:
            row = self._pause(options)
            if options["progress"]:
                self._progress(row)
                return
            pausing.resume(row.id, actor=actor(options["actor"]), reason=options["reason"] or "")
        except ServiceError as exc:
            raise CommandError(exc.summary_naming(FIELD_FLAGS))
        self.stdout.write(f"resumed {row} (pause {row.id})")
        self._progress(row)

    def _pause(self, options: dict[str, Any]) -> StepPause:
        if options["pause_id"] and (options["step"] or options["key"]):  # they could name two different pauses
            raise CommandError("INVALID_ARGUMENT: name the pause by PIPELINE.STEP (and --key) or by --id, not both")
        if options["pause_id"]:
            try:
                pause_id = uuid.UUID(options["pause_id"])
            except ValueError:
                raise CommandError(f"NOT_FOUND: no pause {options['pause_id']} (a pause's id is a UUID)") from None
            row = StepPause.objects.filter(pk=pause_id).first()
            if row is None:
                raise CommandError(f"NOT_FOUND: no pause {options['pause_id']}")
            return row
        if not options["step"]:
            raise CommandError("INVALID_ARGUMENT: name the paused step (PIPELINE.STEP) or --id")
        pipeline, step = where(options["step"])
        key, value = scope(options["key"])
        value = pausing.key_value(composition(), key, value)  # the form the pause stored (order ids: canonical)
        if options["progress"]:  # the newest pause of that scope, resumed or not
            newest = StepPause.objects.filter(pipeline=pipeline, step=step, key=key, value=value)
            row = newest.order_by("-created_at").first()
            if row is None:
                raise CommandError(f"NOT_FOUND: {pipeline}.{step} was never paused")
            return row
        return pausing.find_active(pipeline, step, key, value)

    def _progress(self, row: StepPause) -> None:
        shown = drain.progress(row)
        done_by = f", all due by {shown.done_by:%H:%M:%S}" if shown.done_by else ""
        self.stdout.write(f"held {shown.held}, drained {shown.drained}, remaining {shown.remaining}{done_by}")
