"""``manage.py pause PIPELINE.STEP [--key NAME=VALUE] --reason WHY``: hold the items that reach a step.

``--list`` prints the active pauses with what each holds. Recorded like every ops action (``OpsAction``), with
``--actor`` (default ``cli:<OS user>``). See docs/operations.md, "Pausing a step".
"""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipelines.contracts.status import Detail, InvalidArgument, ServiceError
from pipelines.engine import pauses
from pipelines.engine.registry import composition
from pipelines.recovery import actions, drain, pausing


def where(raw: str) -> tuple[str, str]:
    pipeline, dot, step = raw.rpartition(".")
    if not dot or not pipeline or not step:
        raise InvalidArgument(f"{raw!r} is not PIPELINE.STEP", [Detail("step", "PIPELINE.STEP")])
    return pipeline, step


def scope(raw: str | None) -> tuple[str, str]:
    if not raw:
        return "", ""
    name, equals, value = raw.partition("=")
    if not equals or not name.strip() or not value.strip():
        raise InvalidArgument(f"--key {raw!r} is not NAME=VALUE", [Detail("key", "NAME=VALUE")])
    return name.strip(), value.strip()


# A refusal's details name the API's fields; the operator typed these flags (``ServiceError.summary_naming``).
FIELD_FLAGS = {**actions.WHO_FLAGS, "key": "--key", "value": "--key"}


def actor(given: str | None) -> str:
    return given or f"cli:{getpass.getuser()}"


class Command(BaseCommand):
    help = "Pause a step (for one pause key value with --key): items reaching it are held until it is resumed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("step", nargs="?", help="PIPELINE.STEP of the composition in force")
        parser.add_argument("--key", help="NAME=VALUE: hold only the items with that value of a pause key")
        parser.add_argument("--reason", help="why (required; recorded in the OpsAction)")
        parser.add_argument("--actor", default=None, help="who (default: the OS user, prefixed 'cli:')")
        parser.add_argument("--list", action="store_true", help="print the active pauses and change nothing")

    def handle(self, *args: str, **options: Any) -> None:
        if options["list"]:
            if options["step"] or options["key"] or options["reason"] is not None or options["actor"] is not None:
                # it would list and pause nothing, which an operator who added --list to a pause may not notice
                raise CommandError("INVALID_ARGUMENT: --list only lists; pause without it (a step and --reason)")
            self._list()
            return
        if not options["step"]:
            raise CommandError("INVALID_ARGUMENT: name the step to pause (PIPELINE.STEP), or use --list")
        try:
            pipeline, step = where(options["step"])
            key, value = scope(options["key"])
            row = pausing.pause(
                composition(),
                pipeline,
                step,
                key=key,
                value=value,
                actor=actor(options["actor"]),
                reason=options["reason"] or "",
            )
        except ServiceError as exc:
            raise CommandError(exc.summary_naming(FIELD_FLAGS))
        self.stdout.write(f"paused {row} (pause {row.id}) by {row.actor}: {row.reason}")

    def _list(self) -> None:
        rows = list(pauses.active_rows())
        for row in rows:
            held = drain.progress(row).held
            self.stdout.write(
                f"{row.id}  {row}  since {row.created_at:%Y-%m-%d %H:%M:%S}  by {row.actor}  held {held}  {row.reason}"
            )
        if not rows:
            self.stdout.write("no step is paused")
