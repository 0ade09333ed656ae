"""Purge benchmark: ingest latency while the retention purge removes N old orders beside it, and table sizes.

    python -m bench purge                                  # PostgreSQL, 100,000 orders purged, 500 orders placed
    python -m bench purge --orders 5000 --ingest 200 --backend sqlite

A fresh database is migrated and one real order is placed 400 days ago (past the default 365-day orders policy);
its rows are cloned for ``--orders`` orders with the bench's bulk helper (``bench/template.py``). Then:

1. baseline: ``--ingest`` orders placed one by one through the application service (per-order latency);
2. the same again while ``manage.py purge --policy orders`` runs in its own process (as beat would), timed;
3. table sizes before the purge, after it, and (PostgreSQL) after ``VACUUM`` gave the space back to reuse.

Prints JSON: orders/s, p50 and p95 per phase and the p95 change, the purge's duration and orders/s, and the sizes.
Timings are printed, never asserted; occasional use (``tests/bench/test_smoke.py`` runs it at tiny sizes).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import arguments

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("pipelines_checkpointlog", "pipelines_lineagelink", "pipelines_trace", "order_request_orderrequest")


def _latencies(count: int, prefix: str, until: subprocess.Popen[bytes] | None = None) -> dict[str, float]:
    from bench.backend import BODY
    from checkout import services

    took: list[float] = []
    started = time.perf_counter()
    for n in range(count):
        if until is not None and until.poll() is not None and n >= 20:
            break  # the purge ended: what follows is not "beside it"
        begin = time.perf_counter()
        services.place_order(BODY, f"{prefix}-{n}")
        took.append((time.perf_counter() - begin) * 1000)
    elapsed = time.perf_counter() - started
    ordered = sorted(took)
    return {
        "orders": len(took),
        "orders_per_s": len(took) / elapsed,
        "p50_ms": statistics.median(ordered),
        "p95_ms": ordered[max(0, int(len(ordered) * 0.95) - 1)],
    }


def _sizes() -> dict[str, int]:
    """Bytes per table (PostgreSQL: with its indexes and TOAST), plus the total of every table."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A partition counts toward its partitioned table (the log and the lineage, docs/operations.md).
            cursor.execute(
                "SELECT coalesce(p.relname, c.relname), sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "LEFT JOIN pg_class p ON p.oid = pg_partition_root(c.oid) "
                "WHERE c.relkind = 'r' AND n.nspname = current_schema() GROUP BY 1"
            )
        else:
            cursor.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
        every = {name: int(size) for name, size in cursor.fetchall()}
    out = {t: every.get(t, 0) for t in TABLES}
    out["all tables"] = sum(every.values())
    return out


def _seed(orders: int) -> int:
    import time_machine
    from django.utils import timezone

    from bench import template as tpl
    from bench.backend import BODY
    from checkout import demo

    demo.load()
    with time_machine.travel(timezone.now() - datetime.timedelta(days=400), tick=False):
        template = tpl.capture(BODY)
    keys = [f"bench-purge-{n}" for n in range(orders - 1)]
    for start in range(0, len(keys), 2000):
        tpl.copy_orders([template.clone(k) for k in keys[start : start + 2000]])
    return template.rows_per_order


def run(args: argparse.Namespace) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    seeding = time.perf_counter()
    rows_per_order = _seed(args.orders)
    result: dict[str, Any] = {
        "vendor": connection.vendor,
        "orders_purged": args.orders,
        "rows_per_order": rows_per_order,
        "seed_s": time.perf_counter() - seeding,
        "sizes_before": _sizes(),
    }
    _latencies(20, "warm-up")
    result["ingest_alone"] = _latencies(args.ingest, "alone")
    command = [sys.executable, "manage.py", "purge", "--policy", "orders", "--actor", "bench", "--batch", "500"]
    started = time.perf_counter()
    purge = subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        result["ingest_beside_purge"] = _latencies(args.ingest, "beside", until=purge)
        out, err = purge.communicate()
    finally:
        if purge.poll() is None:  # the bench failed beside it: a purge left running would hold its database
            purge.kill()
            purge.communicate()
    result["purge_s"] = time.perf_counter() - started
    if purge.returncode != 0:
        raise SystemExit(f"the purge failed:\n{err.decode()[-3000:]}")
    result["purge_orders_per_s"] = args.orders / result["purge_s"]
    result["purge_output"] = out.decode().splitlines()[:1]
    alone, beside = result["ingest_alone"]["p95_ms"], result["ingest_beside_purge"]["p95_ms"]
    result["p95_change"] = f"{(beside / alone - 1) * 100:+.0f} %"
    result["sizes_after"] = _sizes()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM")
        result["sizes_after_vacuum"] = _sizes()
    return result


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench purge")
    parser.add_argument(
        "--orders", type=arguments.ORDERS, default=100_000, help="old completed orders the purge removes"
    )
    parser.add_argument(
        "--ingest", type=arguments.ORDERS, default=500, help="orders placed per phase (alone, beside the purge)"
    )
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument(
        "--pg-url",
        type=arguments.server_url,
        default=arguments.server_default(),
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tpfgo_site.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    with tempfile.TemporaryDirectory() as workdir:
        name = f"tpfgo_bench_purge_{uuid.uuid4().hex[:6]}"
        if args.backend == "sqlite":
            os.environ["DATABASE_URL"] = f"sqlite:///{Path(workdir) / 'purge.sqlite3'}"
        else:
            from bench.dashboard import _database

            os.environ["DATABASE_URL"] = _database(args.pg_url, name)
        os.environ["TPFGO_VAR_DIR"] = workdir
        try:
            result = run(args)
        finally:
            if args.backend == "postgres":
                import psycopg
                from django.db import connections

                connections.close_all()
                with psycopg.connect(args.pg_url, autocommit=True) as conn:
                    conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
