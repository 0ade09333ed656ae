"""``manage.py run_observers``: run the registered checkpoint observers in this process until it is stopped.

Observers register themselves when their module is imported (``pipelines.store.observers.observe``), so name the
modules with ``--import``. One process per observer name (each keeps its own stored position):

    manage.py run_observers --import myapp.observers                  # every observer the module registers
    manage.py run_observers --import myapp.observers myapp.audit      # only this one
    manage.py run_observers --import myapp.observers --once           # deliver what is committed now, then exit

SIGTERM or Ctrl-C stops it after the entry being delivered; the next run resumes from the stored positions.
"""

from __future__ import annotations

import signal
import threading
from importlib import import_module
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipelines.contracts.text import one_line
from pipelines.store import observers

MAX_POLL_INTERVAL = 3600  # seconds


class Command(BaseCommand):
    help = "Run the registered checkpoint observers (pipelines.store.observers) until stopped, or once with --once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", help="observer names (default: every registered observer)")
        parser.add_argument(
            "--import", dest="modules", action="append", default=[], help="a module that registers observers"
        )
        parser.add_argument("--once", action="store_true", help="deliver what is committed now, then exit")
        parser.add_argument("--poll-interval", type=float, default=0.5, help="seconds between polls (default 0.5)")

    def handle(self, *args: str, **options: Any) -> None:
        if not 0 < options["poll_interval"] <= MAX_POLL_INTERVAL:  # NaN too: 0 or less polled without a pause
            raise CommandError(f"--poll-interval must be above 0 and at most {MAX_POLL_INTERVAL} seconds")
        for module in options["modules"]:
            try:
                import_module(module)
            except (ImportError, ValueError, TypeError) as exc:  # an empty or relative name: ValueError, TypeError
                raise CommandError(one_line(f"--import {module!r}: {exc}")) from exc
        registered = observers.registered()
        unknown = sorted(set(options["names"]) - set(registered))
        if unknown:
            known = ", ".join(registered) or "none"
            raise CommandError(f"no observer named {', '.join(map(repr, unknown))} (registered: {known})")
        names = list(dict.fromkeys(options["names"])) or sorted(registered)  # a name given twice runs once
        if not names:
            raise CommandError("no observer is registered: name the module that registers them with --import")
        if options["once"]:
            for name in names:
                delivered = observers.Reader(registered[name]).poll()
                self.stdout.write(f"{name}: delivered {delivered}")
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(f"running observers: {', '.join(names)}", ending="\n")
        self.stdout.flush()
        observers.run(stop, names, poll_interval=options["poll_interval"])
        self.stdout.write("stopped")
