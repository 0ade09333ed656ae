"""A purge process for the kill test: it runs ``retention.purge`` and, in its second batch, after the batch's
deletes and before its commit, writes a marker file and waits to be killed (``python -m`` this module).

Usage: ``python -m tests.checkout.purge_stalling <marker path> <days ahead>`` with ``DJANGO_SETTINGS_MODULE`` and
the database in the environment (``tests.settings_worker``: ``TPFGO_WORKER_DB_NAME``).
"""

from __future__ import annotations

import datetime
import sys
import threading
import uuid
from pathlib import Path

import django


def main(marker: Path, days_ahead: float) -> None:
    django.setup()
    from django.utils import timezone

    from pipelines.recovery import retention
    from pipelines.store import purge

    real = purge.delete_traces
    calls = [0]

    def stalling(batch: purge.TraceBatch) -> dict[str, int]:
        counts = real(batch)
        calls[0] += 1
        if calls[0] == 2:
            marker.write_text(",".join(str(t) for t in batch.trace_ids))
            threading.Event().wait()  # killed here, the batch's deletes not committed
        return counts

    purge.delete_traces = stalling  # type: ignore[assignment]
    now = timezone.now() + datetime.timedelta(days=days_ahead)
    retention.purge(actor=f"kill test {uuid.uuid4()}", policies=["orders"], batch_size=10, now=now)


if __name__ == "__main__":
    main(Path(sys.argv[1]), float(sys.argv[2]))
