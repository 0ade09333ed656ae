"""Durable at the boundary, measured in pairs (PostgreSQL): what the flushes cost one order, and what else does.

    python -m bench durability                          # 15 blocks of 20 orders, on BENCH_PG_URL's server
    python -m bench durability --blocks 5 --orders 50 --pg-url postgres://postgres@127.0.0.1:55432/postgres

A fresh database (``tpfgo_bench_durability_<random>``, created and dropped) is migrated and loaded with the demo
data. Then, in alternating blocks so the machine's drift hits all three alike: raw SQL writing one order's rows in
one transaction (``bench/template.py``), ``place_order`` with every commit flushed (``TPFGO_DURABILITY=commit``),
and ``place_order`` durable at the boundary (``boundary``). Prints per figure the p50 latency, the p50 CPU time of
this process, and per order the WAL bytes, transactions and WAL flushes the server counted (``pg_current_wal_lsn``,
``pg_stat_database``, ``pg_stat_wal``: cluster-wide, so exact only on a cluster nothing else writes to). Timings are
printed, never asserted; occasional use (``tests/bench/test_smoke.py`` runs it at tiny sizes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench import arguments

FIGURES = ("raw", "commit", "boundary")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench durability")
    parser.add_argument("--blocks", type=arguments.REPEATS, default=15)
    parser.add_argument("--orders", type=arguments.ORDERS, default=20, help="orders per figure and block")
    parser.add_argument(
        "--pg-url",
        type=arguments.server_url,
        default=arguments.server_default(),
    )
    return parser


def main(argv: list[str]) -> None:
    args = parser().parse_args(argv)
    import psycopg

    database = f"tpfgo_bench_durability_{uuid.uuid4().hex[:6]}"  # runs side by side on one server
    with psycopg.connect(args.pg_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {database}")
    os.environ["DATABASE_URL"] = arguments.with_database(args.pg_url, database)
    os.environ.setdefault("TPFGO_ERROR_SINKS", "pipelines.failures.sinks.DatabaseSink")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    try:
        print(json.dumps(measure(args.blocks, args.orders), indent=2))
    finally:
        from django.db import connection

        connection.close()
        with psycopg.connect(args.pg_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {database}")


def measure(blocks: int, n: int) -> dict[str, Any]:
    from django.conf import settings
    from django.core.management import call_command

    from bench import backend  # sets Django up on DATABASE_URL
    from bench import template as tpl

    call_command("migrate", verbosity=0)
    from checkout import demo, services

    demo.load()
    template = tpl.capture(backend.BODY)
    keys = backend.Keys()
    latency: dict[str, list[float]] = {name: [] for name in FIGURES}
    cpu: dict[str, list[float]] = {name: [] for name in FIGURES}
    counted: dict[str, list[float]] = {name: [0.0, 0.0, 0.0] for name in FIGURES}

    def figure(name: str, place: Callable[[Any], object], items: list[Any]) -> None:
        before = _server_counts()
        for item in items:
            started, cpu_started = time.perf_counter(), time.process_time()
            place(item)
            latency[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - cpu_started)
        after = _server_counts()
        for i in range(3):
            counted[name][i] += after[i] - before[i]

    services.place_order(backend.BODY, "warm-up")
    for _ in range(blocks):
        orders = [template.clone(k) for k in keys.take("raw", n)]
        figure("raw", lambda order: tpl.execute_orders([order]), orders)
        for mode in ("commit", "boundary"):
            settings.TPFGO_DURABILITY = mode
            figure(mode, lambda key: services.place_order(backend.BODY, key), keys.take(mode, n))
    total = blocks * n
    out: dict[str, Any] = {"load_average": os.getloadavg(), "orders_per_figure": total}
    for name in FIGURES:
        wal, commits, flushes = (value / total for value in counted[name])
        out[name] = {
            "p50_ms": round(statistics.median(latency[name]) * 1000, 2),
            "cpu_p50_ms": round(statistics.median(cpu[name]) * 1000, 2),
            "wal_bytes_per_order": round(wal),
            "transactions_per_order": round(commits, 1),
            "wal_flushes_per_order": round(flushes, 1),
        }
    raw = out["raw"]["p50_ms"]
    for mode in ("commit", "boundary"):
        out[mode]["x_raw_p50"] = round(out[mode]["p50_ms"] / raw, 2)
    return out


def _server_counts() -> tuple[float, float, float]:
    """WAL position, committed transactions and WAL flushes, once the statistics of this session are reported."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        time.sleep(1.1)  # a backend reports its statistics at most once a second
        cursor.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0'), "
            "(SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()), "
            "(SELECT wal_sync FROM pg_stat_wal)"
        )
        wal, commits, flushes = cursor.fetchone()
    return float(wal), float(commits), float(flushes)


if __name__ == "__main__":
    main(sys.argv[1:])
