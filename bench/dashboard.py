"""Dashboard benchmark: ``/ops/`` with 1,000,000 orders' worth of rows in the last 7 days, PostgreSQL.

    python -m bench dashboard                         # 1,000,000 orders, 5 loads per figure
    python -m bench dashboard --orders 100000 --loads 3 --keep

A fresh database is migrated, one real order is placed through the engine, and its checkpoint-log rows are the
template: ``generate_series`` copies them for N orders spread over the last 7 days, straight into the log
(not through the engine: minutes instead of hours). 1 % of the orders also get the failure rows the dashboard
reads (three error-sink entries, a parked item, its schedules and claims; every other one dead-lettered).

Figures, each the median of ``--loads`` loads of ``/ops/`` through Django's test client as a logged-in ops user:
the old funnel (``COUNT(DISTINCT trace_id)`` over 7 days of the log, the query the dashboard ran before the
fold), the dashboard after the first fold, and after one fold interval of new rows left unfolded (the tail);
plus the first fold's time (once per database) and an incremental fold's. Timings are printed, never asserted.
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

BODY = {
    "consumerId": "alice",
    "restaurantId": "pizza-roma",
    "items": [{"menuItemId": "margherita", "quantity": 2}, {"menuItemId": "tiramisu", "quantity": 1}],
    "deliveryAddress": {"street1": "1 Main St", "city": "Oakland", "state": "CA", "zip": "94612"},
}
# Each generated order's base instant: its number times the golden ratio, modulo 1, across the window.
SPREAD = "{start} + ({span}) * ((o * 0.6180339887) - floor(o * 0.6180339887))"
TRACE = "md5('bench-trace-' || o)::uuid"
FIRST_TRACE_NUMBER = 1_000_000_000


def _database(server_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return arguments.with_database(server_url, name)


def run_then_drop(server_url: str, name: str, keep: bool, run: Callable[[], Any]) -> None:
    """Run a bench on the database ``DATABASE_URL`` names (``name`` on ``server_url``), print its JSON result, and
    drop the database afterwards unless ``keep``."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tpfgo_site.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    try:
        result = run()
    finally:
        from django.db import connections

        connections.close_all()
        if not keep:
            import psycopg

            with psycopg.connect(server_url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name}")
    print(json.dumps(result, indent=2, default=str))


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def _fill(cursor: Any, orders: int, template: list[tuple[Any, ...]]) -> None:
    start = "date_trunc('day', now()) - interval '6 days'"
    base = SPREAD.format(start=start, span=f"now() - ({start}) - interval '1 minute'")
    values = ", ".join(cursor.mogrify("(%s, %s, %s, %s, %s)", row) for row in template)
    cursor.execute(
        f"""INSERT INTO pipelines_checkpointlog
            (checkpoint_type, checkpoint_id, trace_id, trace_number, pipeline, step, publication, created_at,
             trace_created_at)
        SELECT t.kind, md5('bench-cp-' || o || '-' || t.n)::uuid, {TRACE}, {FIRST_TRACE_NUMBER} + o,
               t.pipeline, t.step, t.publication, {base} + t.n * interval '40 milliseconds', {base}
        FROM generate_series(1, %s) AS o
        CROSS JOIN (VALUES {values}) AS t(n, kind, pipeline, step, publication)
        ORDER BY o, t.n""",
        [orders],
    )
    failing = "FROM generate_series(100, %s, 100) AS o"
    parked = "md5('bench-parked-' || o)::uuid"
    cursor.execute(
        f"""INSERT INTO pipelines_errorsinkentry (id, pipeline, step, item_type, item_id, trace_id, error_class,
            error_code, retryable, message, traceback, payload, attempt, source, created_at)
        SELECT md5('bench-err-' || o || '-' || a)::uuid, 'dispatch', 'delivery_assigned', 'OrderReadyForDispatch',
               md5('bench-item-' || o)::uuid, {TRACE},
               CASE WHEN mod(o, 300) = 0 THEN 'checkout.errors.GatewayDown'
                    ELSE 'checkout.errors.NoCourierAvailable' END,
               'UNAVAILABLE', true, 'no courier is available', 'Traceback …', '{{}}'::jsonb, a, 'bench',
               {base} + a * interval '30 seconds'
        {failing} CROSS JOIN generate_series(1, 3) AS a""",
        [orders],
    )
    cursor.execute(
        f"""INSERT INTO pipelines_parkeditem (id, pipeline, step, item_type, item_id, trace_id, idempotency_key,
            created_at)
        SELECT {parked}, 'dispatch', 'delivery_assigned', 'OrderReadyForDispatch', md5('bench-item-' || o)::uuid,
               {TRACE}, 'bench-' || o, {base} {failing}""",
        [orders],
    )
    for table, extra, value in (
        ("pipelines_retryscheduled", "due_at", "{base} + a * interval '30 seconds'"),
        ("pipelines_retryclaim", "worker", "'bench'"),
    ):
        cursor.execute(
            f"""INSERT INTO {table} (parked_id, attempt, {extra}, created_at)
            SELECT {parked}, a, {value.format(base=base)}, {base} + a * interval '30 seconds'
            {failing} CROSS JOIN generate_series(2, 3) AS a""",
            [orders],
        )
    cursor.execute(
        f"""INSERT INTO pipelines_parkingoutcome (parked_id, outcome, reason, attempts, last_error, created_at)
        SELECT {parked}, CASE WHEN mod(o, 200) = 0 THEN 'dead_lettered' ELSE 'resolved' END,
               CASE WHEN mod(o, 200) = 0 THEN 'retry_exhausted' ELSE '' END, 3, 'no courier is available',
               {base} + interval '2 minutes' {failing}""",
        [orders],
    )
    cursor.execute("ANALYZE")


def _old_funnel(start: Any) -> tuple[dict[tuple[Any, str], int], Any]:
    """The funnel as the dashboard counted it before the fold: seven days of the log on every load."""
    import datetime

    from django.db.models import Count
    from django.db.models.functions import TruncDate

    from opsconsole.funnel import Position
    from pipelines.models import CheckpointLog

    since = datetime.datetime.combine(start, datetime.time.min, tzinfo=datetime.UTC)
    rows = (
        CheckpointLog.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("checkpoint_type", "day")
        .annotate(orders=Count("trace_id", distinct=True))
        .order_by()
    )
    return {(r["day"], r["checkpoint_type"]): r["orders"] for r in rows}, Position(0, None)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from checkout import demo, services
    from checkout.order_request.models import OrderRequest
    from opsconsole import funnel
    from opsconsole.models import FunnelDay, FunnelFold
    from opsconsole.ops_group import ensure_ops_group
    from pipelines.models import CheckpointLog

    call_command("migrate", verbosity=0)
    if not args.reuse:
        demo.load()
        order_id = services.place_order(BODY, "bench-template").view["orderId"]
        get_user_model().objects.create_user("bench-ops", is_staff=True).groups.add(ensure_ops_group())
    else:  # a database an earlier --keep run filled: fold again from the start
        FunnelDay.objects.all().delete()
        FunnelFold.objects.all().delete()
        order_id = OrderRequest.objects.get().order_id  # the template order: the only one placed for real
    template = [
        (n, row.checkpoint_type, row.pipeline, row.step, row.publication)
        for n, row in enumerate(CheckpointLog.objects.filter(trace_id=order_id).order_by("seq"))
    ]
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-ops"))

    def loads() -> dict[str, float]:
        times = []
        for _ in range(args.loads):
            started = time.perf_counter()
            response = client.get("/ops/")
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
        return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}

    out: dict[str, Any] = {"orders": args.orders, "rows_per_order": len(template), "loads": args.loads}
    with connection.cursor() as cursor:
        out["fill_s"] = 0 if args.reuse else _timed(lambda: _fill(cursor, args.orders, template)) / 1000
    out["log_rows"] = CheckpointLog.objects.count()
    print(f"filled: {out['log_rows']:,} log rows in {out['fill_s']:.0f} s", file=sys.stderr, flush=True)

    if not args.no_old:
        real = funnel.per_day
        funnel.per_day = _old_funnel  # type: ignore[assignment]
        out["old_funnel"] = loads()
        funnel.per_day = real  # type: ignore[assignment]
        print(f"old funnel: {out['old_funnel']}", file=sys.stderr, flush=True)

    out["first_fold_s"] = _timed(lambda: (funnel.fold(), funnel.fold())) / 1000
    print(f"first fold: {out['first_fold_s']:.0f} s", file=sys.stderr, flush=True)
    out["folded"] = loads()
    tail_orders = max(1, args.orders * args.fold_seconds // (7 * 86400))
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO pipelines_checkpointlog
                (checkpoint_type, checkpoint_id, trace_id, trace_number, pipeline, step, publication, created_at,
                 trace_created_at)
            SELECT checkpoint_type, gen_random_uuid(), md5('bench-tail-' || trace_number)::uuid,
                   trace_number + 500000000, pipeline, step, publication, now(), now()
            FROM pipelines_checkpointlog WHERE trace_number BETWEEN %s AND %s""",
            [FIRST_TRACE_NUMBER + 1, FIRST_TRACE_NUMBER + tail_orders],
        )
        out["tail_rows"] = cursor.rowcount
    out["with_tail"] = loads()
    out["incremental_fold_ms"] = _timed(lambda: (funnel.fold(), funnel.fold()))
    start = _window_start()
    out["same_numbers"] = _old_funnel(start)[0] == funnel.per_day(start)[0]
    return out


def _window_start() -> Any:
    import datetime

    from django.utils import timezone

    from opsconsole.selectors import FUNNEL_DAYS

    return timezone.now().date() - datetime.timedelta(days=FUNNEL_DAYS - 1)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench dashboard")
    parser.add_argument("--orders", type=arguments.ORDERS, default=1_000_000)
    parser.add_argument(
        "--loads", type=arguments.REPEATS, default=5, help="loads of /ops/ per figure (the median is reported)"
    )
    parser.add_argument(
        "--fold-seconds",
        type=arguments.count(1, int(arguments.MAX_SECONDS)),
        default=30,
        help="the fold interval the tail stands for",
    )
    parser.add_argument(
        "--pg-url",
        type=arguments.server_url,
        default=arguments.server_default(),
    )
    parser.add_argument("--keep", action="store_true", help="keep the database (tpfgo_bench_dashboard) afterwards")
    parser.add_argument("--no-old", action="store_true", help="skip the old funnel's loads (a minute each at 1M)")
    parser.add_argument(
        "--reuse",
        metavar="NAME",
        type=arguments.database(63),
        help="measure again on a database a --keep run filled (kept)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.reuse:
        args.keep, name = True, args.reuse
        os.environ["DATABASE_URL"] = arguments.with_database(args.pg_url, name)
    else:
        name = f"tpfgo_bench_dashboard_{uuid.uuid4().hex[:6]}" if not args.keep else "tpfgo_bench_dashboard"
        os.environ["DATABASE_URL"] = _database(args.pg_url, name)
    run_then_drop(args.pg_url, name, args.keep, lambda: run(args))


if __name__ == "__main__":
    main()
