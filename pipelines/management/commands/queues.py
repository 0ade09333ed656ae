"""``manage.py queues``: the Celery queues of the delivery modes in force, one name per line.

The first line is the default queue (retries, resumes, the drain of a pause), the second the timers' queue
(``tpfgo-timers``: the sweep, the deadline pass, the release of what fell due); then one queue per pipeline that a
``queue`` publication feeds (``tpfgo.<pipeline>``), as ``TPFGO_PUBLICATION_MODES`` and the composition decide. A
worker started without ``-Q`` consumes all of them; to dedicate workers to pipelines, give each group some of these
names, and let some worker consume the first two:

    celery -A tpfgo_site worker -Q "$(manage.py queues --pipelines | paste -sd, -)"

``--pipelines`` leaves the first two out. An invalid ``TPFGO_PUBLICATION_MODES`` is an error (exit status 1).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipelines.engine import queues
from pipelines.engine.registry import composition


class Command(BaseCommand):
    help = "Print the Celery queues, one per line: the default queue, the timers' queue, then the pipelines' queues."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pipelines", action="store_true", help="only the pipelines' queues (tpfgo.<pipeline>)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            names = queues.queue_names(composition())
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        for name in names[2:] if options["pipelines"] else names:
            self.stdout.write(name)
