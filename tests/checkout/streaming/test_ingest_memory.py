"""2,000 orders through the real NDJSON route on a gunicorn process, into a deliberately slow downstream.

The server's peak RSS may grow by less than 50 MiB from the first 100 answers to the end (memory is bounded by
the buffer, not by the stream), and every order completes exactly once. About 50 s on PostgreSQL (4 workers)
and 85 s on SQLite (one writer); ``bench.ingest_backpressure`` runs 20,000. The figures are printed (``pytest -s``).
"""

from pathlib import Path

import pytest
from django.db import connection

from bench.ingest_harness import Server, counts, prepare, run

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SLOW = {
    "TPFGO_PAYMENT_GATEWAY": "bench.slow_gateway.SlowGateway",
    "TPFGO_BENCH_CAPTURE_DELAY_MS": "5",
    "TPFGO_BUFFER_CAPACITY": "128",
    "TPFGO_OVERFLOW_POLICY": "block",
}


def server_database(tmp_path: Path) -> tuple[str, bool]:
    """The URL the server process uses, and whether it must be migrated first."""
    if connection.vendor == "postgresql":
        s = connection.settings_dict
        auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
        return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}", False
    return f"sqlite:///{tmp_path / 'ingest.sqlite3'}", True  # the in-memory test database cannot be shared


def test_a_long_stream_into_a_slow_downstream_keeps_memory_flat_and_completes_every_order_once(tmp_path):
    orders = 2000
    url, migrate = server_database(tmp_path)
    token = prepare(url, migrate=migrate)
    with Server(url, tmp_path / "gunicorn.log", **SLOW) as server:
        figures = run(server, token, orders, prefix="memory")
    rows = counts(url)
    print(f"\n{connection.vendor}: {orders} orders\n{figures.report()}\nrows: {rows}")

    assert figures.status == 200
    assert figures.states == {"COMPLETED": orders} and figures.errors == {}
    assert figures.peak_growth_mib < 50
    # Backpressure reached the buffer: it filled to its capacity and never beyond.
    assert figures.max_buffer_queued == figures.buffer_capacity == 128
    assert rows["order_requests"] == rows["terminal_states"] == orders
    assert rows["log_rows_per_order"] == [18] and rows["log_rows"] == 18 * orders
    assert rows["error_sink_entries"] == rows["parked"] == 0
