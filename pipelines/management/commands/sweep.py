"""``manage.py sweep``: run the sweeper once, by hand, optionally further back than beat's window.

Beat sweeps every 30 s over ``TPFGO_SWEEP_WINDOW_SECONDS`` (24 h). After a longer outage of beat, the worker or
the broker, what stalled before the window is out of the periodic sweep's reach; this command reaches it:

    manage.py sweep --window 3d --dry-run     # what it would re-enqueue, reschedule, dead-letter and resume
    manage.py sweep --window 3d --limit 5000  # do it (resumes go to the worker, as beat's do)

It prints one line per item and a summary, stalled traces with nothing to run now included, with why (an open
parked item owns it, or its next step waits for an event): the sweep decides them skipped, a dry run says it
would. Run it again until it reports nothing: each pass takes at most ``--limit`` rows, and what it handed to
the worker leaves the list once the worker has claimed it.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipelines.engine import queues
from pipelines.recovery import sweeper

_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_WINDOW = datetime.timedelta(days=3653)  # ten years: further back than any log is kept
MAX_LIMIT = 1_000_000  # rows per pass


def duration(text: str) -> datetime.timedelta:
    """``90``, ``90s``, ``15m``, ``36h`` or ``7d``; at least one second."""
    match = _DURATION.match(text.strip().lower())
    seconds = int(match.group(1)) * _UNITS[match.group(2)] if match and len(match.group(1)) <= 9 else 0
    if not 0 < seconds <= MAX_WINDOW.total_seconds():
        raise CommandError(f"--window {text!r}: a duration from 1 second to 10 years, such as 3600, 90m, 36h or 7d")
    return datetime.timedelta(seconds=seconds)


class Command(BaseCommand):
    help = "Run the sweeper once: re-enqueue lost retries, reschedule lost attempts, resume stalled traces."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--window", help="how far back to look (default: TPFGO_SWEEP_WINDOW_SECONDS), e.g. 36h or 7d"
        )
        parser.add_argument("--limit", type=int, help="rows per pass (default: TPFGO_SWEEP_BATCH)")
        parser.add_argument("--dry-run", action="store_true", help="report what it would do, change nothing")

    def handle(self, *args: str, **options: Any) -> None:
        window = duration(options["window"]) if options["window"] is not None else None  # '' is refused
        limit = options["limit"]
        if limit is not None and not 1 <= limit <= MAX_LIMIT:
            raise CommandError(f"--limit must be from 1 to {MAX_LIMIT}")
        dry_run = options["dry_run"]
        report = sweeper.sweep(limit=limit, window=window, dry_run=dry_run)
        verb = "would " if dry_run else ""
        for parked_id, attempt in report.reenqueued:
            self.stdout.write(f"{verb}re-enqueue parked item {parked_id}, attempt {attempt}")
        for parked_id, attempt in report.rescheduled:
            self.stdout.write(f"{verb}reschedule parked item {parked_id}, attempt {attempt} (its worker was lost)")
        for parked_id in report.dead_lettered:
            self.stdout.write(f"{verb}dead-letter parked item {parked_id} (attempts exhausted, worker lost)")
        counts = report.as_dict()
        for trace_id, seq in report.resumes:
            self.stdout.write(f"{verb}resume trace {trace_id} from checkpoint log row {seq}")
        for trace_id, seq, why in report.settled:
            skip = "would skip" if dry_run else "skipped"
            self.stdout.write(f"{skip} trace {trace_id} at checkpoint log row {seq}: {why}")
        if report.settled:
            counts["skipped"] = len(report.settled)
        for trace_id, seq in report.aux_branches:
            self.stdout.write(f"{verb}write the optional aux branch of trace {trace_id}'s checkpoint log row {seq}")
        for trace_id, pipeline in report.handoffs:
            self.stdout.write(f"{verb}send trace {trace_id}'s pending hand-off to queue {queues.queue_name(pipeline)}")
        for kind, subject, number in report.held:
            work = {
                "retry": f"the retry of parked item {subject}, attempt {number}",
                "resume": f"the resume of trace {subject} at row {number}",
                "handoff": f"trace {subject}'s pending hand-off to queue {queues.queue_name(str(number))}",
            }[kind]
            self.stdout.write(f"{verb}hold {work}: its queue is deep (TPFGO_SWEEP_RESEND_HOLD_DEPTH)")
        summary = ", ".join(f"{name} {count}" for name, count in counts.items())
        self.stdout.write(("dry run: " if dry_run else "swept: ") + summary)
