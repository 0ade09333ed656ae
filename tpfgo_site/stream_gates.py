"""The admission gates of the streams a serving process admits (NDJSON or gRPC ingest, order watches, remote
follows), opened when it starts: their gauges (``tpfgo_stream_admission_*``, docs/backpressure.md) are then scraped
from its first scrape, 0 active of the capacity its settings give, instead of appearing with its first stream. A
dashboard shows the capacity before any load, and a rule on ``active`` against ``capacity`` has its series."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines import Admission


def open_gates() -> list[Admission]:
    """Imported with the app registry ready (the WSGI module imports this one before it sets Django up)."""
    from checkout import ingest, watching
    from pipelines import subscription_gate

    return [ingest.gate(), watching.gate(), subscription_gate()]
