"""``manage.py beat_leader``: run Celery beat on this node only while it holds the cluster's beat lock.

Start one on every node that may run beat (``bin/node beat``); exactly one leads at a time, another takes over
within ``--poll`` seconds when it dies, and within ``--lease`` seconds when it freezes or is cut off from the database
(``pipelines.store.leader``). Off PostgreSQL (one node, SQLite) it runs beat.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from pipelines.store.leader import BeatCandidate, celery_beat_command

MAX_POLL = 60  # seconds: a standby takes over within about this long after the leader's session ends


class Command(BaseCommand):
    help = "Run Celery beat while this node holds the cluster's beat lock (PostgreSQL advisory lock)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--poll", type=float, default=1.0, help="seconds between lock attempts and checks")
        parser.add_argument(
            "--lease",
            type=float,
            default=None,
            help="seconds a leader may go silent (frozen, cut off) before the database ends its session and another"
            " candidate leads (default: the larger of 10 and 3 polls; at least 2 polls)",
        )
        parser.add_argument(
            "--schedule",
            default=str(Path(settings.VAR_DIR) / "celerybeat-schedule"),
            help="beat's schedule file (only the leader writes it; the sweep's slots are claimed in the database)",
        )
        parser.add_argument("--loglevel", default="INFO")

    def handle(self, *args: str, **options: Any) -> None:
        if not 0 < options["poll"] <= MAX_POLL:  # NaN too: below 0 (or NaN) time.sleep raised, 0 spun on the lock
            raise CommandError(f"--poll must be above 0 and at most {MAX_POLL} seconds")
        lease = options["lease"] if options["lease"] is not None else max(10.0, 3 * options["poll"])
        if not 2 * options["poll"] <= lease <= 3600:  # a live leader checks in every poll; NaN fails too
            raise CommandError("--lease must be at least 2 polls and at most 3600 seconds")
        beat = celery_beat_command(Path(options["schedule"]), options["loglevel"])
        if connection.vendor != "postgresql":
            os.execv(beat[0], beat)  # noqa: S606  (one node: nothing to elect)
        status = BeatCandidate(beat, poll=options["poll"], lease=lease).run()
        if status:
            raise CommandError(f"beat candidate ended with status {status}", returncode=status)
