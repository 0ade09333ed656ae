"""Backpressure benchmark: N orders through one NDJSON ingest stream into a deliberately slow downstream.

    python -m bench.ingest_backpressure                      # 20,000 orders, a fresh SQLite file
    python -m bench.ingest_backpressure --postgres postgres://postgres@127.0.0.1:5432/postgres

One gunicorn worker (gthread) serves the stream; every capture (pipeline 07) sleeps ``--delay-ms``. The figures:
throughput, the worker's peak RSS after the first 100 answers and at the end (the growth must stay far below
50 MiB: memory is bounded by the buffer, not by the stream's length), the ingest buffer's fill and capacity as
``/metrics`` reported them, and exact row counts (every order completed exactly once). Timings are printed,
never asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench import arguments
from bench.ingest_harness import Server, counts, prepare, run


def _postgres_database(server_url: str) -> tuple[str, str]:
    """A fresh database on that server: (its URL, its name)."""
    import psycopg

    name = f"tpfgo_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}")), name


def _drop(server_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest_backpressure",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--orders", type=arguments.ORDERS, default=20_000)
    parser.add_argument(
        "--delay-ms",
        type=arguments.number(0, 1000 * arguments.MAX_SECONDS),
        default=5.0,
        help="pause before every payment capture",
    )
    parser.add_argument("--capacity", type=arguments.ORDERS, default=128, help="TPFGO_BUFFER_CAPACITY")
    parser.add_argument("--batch", type=arguments.ORDERS, default=32, help="TPFGO_STREAM_BATCH_SIZE")
    parser.add_argument("--postgres", metavar="SERVER_URL", help="run on a fresh database on this server")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="tpfgo-bench-"))
    dropped: tuple[str, str] | None = None
    if args.postgres:
        url, name = _postgres_database(args.postgres)
        dropped = (args.postgres, name)
    else:
        url = f"sqlite:///{scratch / 'bench.sqlite3'}"
    try:
        token = prepare(url)
        settings = {
            "TPFGO_PAYMENT_GATEWAY": "bench.slow_gateway.SlowGateway",
            "TPFGO_BENCH_CAPTURE_DELAY_MS": str(args.delay_ms),
            "TPFGO_BUFFER_CAPACITY": str(args.capacity),
            "TPFGO_STREAM_BATCH_SIZE": str(args.batch),
            "TPFGO_OVERFLOW_POLICY": "block",
        }
        with Server(url, scratch / "gunicorn.log", **settings) as server:
            figures = run(server, token, args.orders)
        rows = counts(url)
    finally:
        if dropped:
            _drop(*dropped)
    database = "PostgreSQL" if args.postgres else "SQLite"
    print(f"ingest backpressure: {args.orders} orders, {database}, capture delay {args.delay_ms} ms, "
          f"buffer {args.capacity}, batch {args.batch}")  # fmt: skip
    print(figures.report())
    print("rows:", rows)
    exactly_once = (
        rows["order_requests"] == rows["terminal_states"] == figures.states.get("COMPLETED", 0) == args.orders
        and len(rows["log_rows_per_order"]) == 1
    )
    print("every order completed exactly once:", exactly_once)
    return 0 if exactly_once else 1


if __name__ == "__main__":
    sys.exit(main())
