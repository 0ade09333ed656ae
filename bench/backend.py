"""One backend's measurements, in its own process (``DATABASE_URL`` decides the backend): ``python -m bench``
starts it. It migrates a fresh database, loads the demo data, and for each history level (orders already in the
tables) measures every system on the same rows, printing one JSON document on stdout.

Systems: the floor (the rows of N orders in one transaction, every raw way this database offers: ``COPY`` and binary
``COPY`` per table on PostgreSQL, a multi-row ``INSERT`` per table on SQLite, ``executemany`` everywhere as a
reference; the fastest of each repeat is the floor), raw SQL with one transaction per order, the naive ORM
(``objects.create`` per row, one transaction per order), TPFGo single-order through the application service (01→08,
the default per-step transactions and the per-pipeline option), and TPFGo's batched stream
(``checkout.bulk.place_orders``, 500 orders per batch). The batched stream runs right after the floor, on the same
tables, and every figure carries its ratio to the floor of its own repeat (``x_floor``): the machine's speed drifts
between repeats, not within a few seconds.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import django
from django.apps import apps

if not apps.ready:  # a process of its own (python -m bench, bench.durability); a test set Django up
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tpfgo_site.settings")
    os.environ.setdefault("TPFGO_ERROR_SINKS", "pipelines.failures.sinks.DatabaseSink")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    django.setup()

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction

from bench import arguments
from bench import template as tpl

BODY = {
    "consumerId": "alice",
    "restaurantId": "pizza-roma",
    "items": [{"menuItemId": "margherita", "quantity": 2}, {"menuItemId": "tiramisu", "quantity": 1}],
    "deliveryAddress": {"street1": "1 Main St", "city": "Oakland", "state": "CA", "zip": "94612"},
}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Keys:
    """Fresh idempotency keys for every measurement (a key is never reused within one database)."""

    def __init__(self) -> None:
        self.n = 0

    def take(self, prefix: str, count: int) -> list[str]:
        start, self.n = self.n, self.n + count
        return [f"{prefix}-{i:09d}" for i in range(start, start + count)]


def settle() -> None:
    """Before each figure, a checkpoint, so that no figure pays for the previous one's writes: SQLite copies the WAL
    back into the file and empties it (the floor's one transaction leaves tens of megabytes of WAL for the checkpoint
    thread to copy while the next figure runs); PostgreSQL writes its dirty buffers out (after seeding 100,000
    orders its checkpointer flushes for minutes). Each figure still pays for its own writes and for the
    checkpoints that fall during its run.

    On PostgreSQL also an ``ANALYZE`` first, what autovacuum does as tables grow: without it the planner keeps the
    statistics of the last ``VACUUM ANALYZE`` (after the warm-up's 50 orders at the empty level) for the whole run
    where autovacuum is off, as on the CI machine, and plans the growing tables as if they held 50 orders."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.fetchall()
        else:
            cursor.execute("ANALYZE")
            cursor.execute("CHECKPOINT")  # the bench connects as a superuser (or a member of pg_checkpoint)


def timed(fn: Callable[[], Any]) -> float:
    settle()
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def per_order(keys: list[str], place: Callable[[str], Any]) -> dict[str, float]:
    settle()
    latencies = []
    start = time.perf_counter()
    for key in keys:
        t0 = time.perf_counter()
        place(key)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "orders_per_s": len(keys) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p95_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))] * 1000,
    }


def measure(template: tpl.Template, keys: Keys, n_bulk: int, n_single: int, turn: int = 0) -> dict[str, dict[str, Any]]:
    from checkout import bulk, services

    out: dict[str, dict[str, Any]] = {}

    # Every raw way of writing the rows, in an order that turns with the repeat (none always runs on the
    # emptiest tables); the fastest of them in this repeat is the floor.
    methods = list(tpl.floor_methods().items())
    methods = methods[turn % len(methods) :] + methods[: turn % len(methods)]
    for name, write in methods:
        orders = [template.clone(k) for k in keys.take(name, n_bulk)]
        out[name] = {"orders_per_s": n_bulk / timed(lambda write=write, orders=orders: write(orders))}
    fastest = max((name for name, _ in methods), key=lambda name: out[name]["orders_per_s"])
    out["raw_floor"] = {"orders_per_s": out[fastest]["orders_per_s"], "method": fastest}

    # Right after the floor, on the same tables: the two figures the ratio compares are measured back to back.
    batch = [(BODY, k) for k in keys.take("batch", n_bulk)]
    answers: list[Any] = []
    elapsed = timed(lambda: answers.extend(bulk.place_orders(batch, views=False)))
    completed = sum(1 for a in answers if getattr(a, "view", {}).get("state") == "COMPLETED")
    out["tpfgo_batch"] = {"orders_per_s": n_bulk / elapsed, "completed": completed}

    # Timed one order at a time, like TPFGo's single order: its p50 is what the single order's p50 is held to.
    raw = {k: template.clone(k) for k in keys.take("rawtx", n_bulk)}
    out["raw_per_order"] = per_order(list(raw), lambda k: tpl.execute_orders([raw[k]]))

    objects = {k: template.clone_objects(k) for k in keys.take("orm", n_single)}

    def naive(key: str) -> None:
        with transaction.atomic():
            for model, values in objects[key]:
                model.objects.create(**values)

    out["naive_orm"] = per_order(list(objects), naive)

    durability = settings.TPFGO_DURABILITY
    settings.TPFGO_DURABILITY = "commit"
    try:
        out["tpfgo_single"] = per_order(keys.take("single", n_single), lambda k: services.place_order(BODY, k))
        if connection.vendor == "postgresql":  # durable at the boundary: asynchronous step commits, one flush
            settings.TPFGO_DURABILITY = "boundary"
            out["tpfgo_single_boundary"] = per_order(
                keys.take("single-b", n_single), lambda k: services.place_order(BODY, k)
            )
    finally:
        settings.TPFGO_DURABILITY = durability
    settings.TPFGO_ATOMICITY = "pipeline"
    try:
        out["tpfgo_single_pipeline_tx"] = per_order(
            keys.take("single-p", n_single), lambda k: services.place_order(BODY, k)
        )
    finally:
        settings.TPFGO_ATOMICITY = "step"

    floor = out["raw_floor"]["orders_per_s"]
    for figures in out.values():
        figures["rss_mb"] = rss_mb()
        figures["x_floor"] = figures["orders_per_s"] / floor  # this repeat's ratio: the table shows their median
    return out


def orders_stored() -> int:
    from checkout.order_request.models import OrderRequest

    return OrderRequest.objects.count()


def seed(template: tpl.Template, keys: Keys, target: int) -> float:
    """Bring the tables up to ``target`` orders with cloned rows, 2,000 orders per transaction, the fastest raw way
    (binary COPY on PostgreSQL, multi-row INSERT on SQLite): 1,000,000 orders is 61 million rows."""
    start = time.perf_counter()
    write = tpl.copy_binary_orders if connection.vendor == "postgresql" else tpl.multirow_orders
    missing = target - orders_stored()
    while missing > 0:
        chunk = min(2000, missing)
        write([template.clone(k) for k in keys.take("seed", chunk)])
        missing -= chunk
    with connection.cursor() as cursor:  # what autovacuum would do after a bulk load
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("ANALYZE")
    return time.perf_counter() - start


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.backend")
    parser.add_argument("--orders", type=arguments.ORDERS, default=1000)
    parser.add_argument("--single-orders", type=arguments.ORDERS, default=300)
    parser.add_argument("--repeat", type=arguments.REPEATS, default=3)
    parser.add_argument("--levels", type=arguments.counts(0, arguments.MAX_ORDERS), default="0,10000,100000")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    call_command("migrate", verbosity=0)
    from checkout import demo

    demo.load()
    template = tpl.capture(BODY)
    keys = Keys()
    # Warm-up: imports, prepared tables, connection; not measured.
    measure(template, keys, 50, 20)
    result: dict[str, Any] = {"vendor": connection.vendor, "rows_per_order": template.rows_per_order, "levels": {}}
    for level in [int(x) for x in args.levels.split(",") if x.strip()]:
        seconds = seed(template, keys, level)
        stored = orders_stored()
        runs = [measure(template, keys, args.orders, args.single_orders, turn) for turn in range(args.repeat)]
        result["levels"][str(level)] = {"stored_before": stored, "seed_s": seconds, "runs": runs}
        print(f"[{connection.vendor}] level {level}: done", file=sys.stderr, flush=True)
    json.dump(result, sys.stdout)


def median(values: list[float]) -> float:
    return statistics.median(values)


if __name__ == "__main__":
    main()
