"""Sweeper benchmark: one sweeper pass and ``manage.py sweep --dry-run`` at 0, 200,000 and 1,000,000 orders in the
sweep's window, PostgreSQL, the frontier (``OpenPosition``) against the window scan it replaced.

    python -m bench sweep                                  # levels 0, 200,000, 1,000,000; 3 passes per figure
    python -m bench sweep --levels 0,200000 --passes 3 --keep
    python -m bench sweep --overhead 5000                  # what the frontier's trigger adds to each log insert

A fresh database is migrated and one real order is placed through the engine; it runs to its terminal state, and
its checkpoint-log rows are the template: ``generate_series`` copies them for N orders spread over the last 23 hours
(inside the 24 h window), straight into the log (not through the engine), so the frontier's triggers fire on every
row as they do in production. Then ``STALLED`` orders are copied without their rows after the kitchen's commitment:
what the sweeper must find. Only the log is seeded: the sweeper's partial-progress pass reads the log and the
resumptions; the other passes read retry schedules and claims (failures only, none seeded: their cost follows
failures, not orders).

Figures, each the median of ``--passes`` timings: ``candidates`` (the partial-progress query) and a whole
``sweep(dry_run=True)`` (what ``manage.py sweep --dry-run`` runs), once reading the frontier and once scanning the
window as the sweeper did before (its query, kept here), and that query once more with PostgreSQL's JIT off (its
estimated cost made PostgreSQL JIT-compile it on every pass). Each pass must find exactly the stalled orders.
Also: the seed's time (the frontier's triggers fire on every row), the log's and the frontier's rows. Timings are
printed, never asserted.
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
from bench.dashboard import BODY, _database, run_then_drop

STALLED = 20
# Each generated order's base instant: its number times the golden ratio, modulo 1, across the last 23 hours.
SPREAD = "now() - interval '23 hours 30 minutes' + interval '23 hours' * ((o * 0.6180339887) - floor(o * 0.6180339887))"


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return (time.perf_counter() - started) * 1000, out


def _fill(cursor: Any, first: int, last: int, template: list[tuple[Any, ...]], tag: str) -> int:
    values = ", ".join(cursor.mogrify("(%s, %s, %s, %s, %s)", row) for row in template)
    cursor.execute(
        f"""INSERT INTO pipelines_checkpointlog
            (checkpoint_type, checkpoint_id, trace_id, trace_number, pipeline, step, publication, created_at,
             trace_created_at)
        SELECT t.kind, md5('bench-cp-{tag}-' || o || '-' || t.n)::uuid, md5('bench-trace-{tag}-' || o)::uuid,
               1000000000 + o, t.pipeline, t.step, t.publication, {SPREAD} + t.n * interval '40 milliseconds',
               {SPREAD}
        FROM generate_series(%s, %s) AS o
        CROSS JOIN (VALUES {values}) AS t(n, kind, pipeline, step, publication)
        ORDER BY o, t.n""",
        [first, last],
    )
    return int(cursor.rowcount)


def _overhead(connection: Any, template: list[tuple[Any, ...]], orders: int) -> dict[str, Any]:
    """Seconds to log ``orders`` orders' rows with the frontier's insert trigger and without it, alternated three
    times on the same database (the other triggers stay): what the frontier adds to every log insert."""
    from pipelines.store import open_positions

    trigger = open_positions.TRIGGERS.name("log_ai", open_positions.LOG)
    definition = dict((open_positions.TRIGGERS.name(n, t), d) for n, t, d in open_positions.TRIGGERS.pg_triggers)
    times: dict[str, list[float]] = {"with": [], "without": []}
    first = 1_000_000
    for _ in range(3):
        for mode in ("with", "without"):
            with connection.cursor() as cursor:
                if mode == "without":
                    cursor.execute(f"DROP TRIGGER {trigger} ON {open_positions.LOG}")
                ms, _ = _timed(lambda: _fill(cursor, first, first + orders - 1, template, "overhead"))  # noqa: B023
                if mode == "without":
                    cursor.execute(f"CREATE TRIGGER {trigger} {definition[trigger]}")
            times[mode].append(ms / 1000)
            first += orders
    rows = orders * len(template)
    return {
        "orders": orders,
        "rows": rows,
        "with_s": times["with"],
        "without_s": times["without"],
        "us_per_row_added": (statistics.median(times["with"]) - statistics.median(times["without"])) / rows * 1e6,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from checkout import demo, services
    from pipelines.engine.registry import composition
    from pipelines.models import CheckpointLog, OpenPosition
    from pipelines.recovery import frontier, sweeper
    from pipelines.recovery import resume as recovery

    call_command("migrate", verbosity=0)
    demo.load()
    order_id = services.place_order(BODY, "bench-template").view["orderId"]
    rows = list(CheckpointLog.objects.filter(trace_id=order_id).order_by("seq"))
    template = [(n, r.checkpoint_type, r.pipeline, r.step, r.publication) for n, r in enumerate(rows)]
    cut = next(n for n, r in enumerate(rows) if r.step == "kitchen_commitment") + 1
    comp = composition()
    assert frontier.in_force(comp) and OpenPosition.objects.count() == 0

    def old_candidates(now: Any = None, limit: int = 200, *, since: Any = None, unless: Any = None) -> list[Any]:
        """``candidates`` as it was before the frontier: the window of the log, every row judged (and the
        sweeper's "sent recently", ``unless``, left out as ``candidates`` does)."""
        from django.db.models import Exists, OuterRef, Q
        from django.utils import timezone

        from pipelines.models import Resumption

        now = now or timezone.now()
        decided = Resumption.objects.filter(trace_id=OuterRef("trace_id"), seq=OuterRef("seq")).filter(
            Q(decision=Resumption.SKIPPED)
            | Q(created_at__gt=now - recovery.claim_timeout())
            | Q(attempt__gte=recovery.MAX_RESUME_ATTEMPTS)
        )
        rows = (
            CheckpointLog.objects.filter(
                created_at__gte=since or now - recovery.window(), created_at__lte=now - recovery.grace()
            )
            .exclude(publication__in=sorted(comp.terminal))
            .exclude(recovery._went_on(comp))
            .filter(~Exists(decided))
            .order_by("created_at")
        )
        if unless is not None:
            rows = rows.filter(~unless)
        return list(rows[:limit])

    def old(fn: Callable[[], Any], jit: bool = True) -> Callable[[], Any]:
        def run_old() -> Any:
            real = recovery.candidates
            recovery.candidates = old_candidates  # type: ignore[assignment]
            if not jit:
                with connection.cursor() as cursor:
                    cursor.execute("SET jit = off")
            try:
                return fn()
            finally:
                recovery.candidates = real  # type: ignore[assignment]
                with connection.cursor() as cursor:
                    cursor.execute("RESET jit")

        return run_old

    def figure(fn: Callable[[], Any], expect: int, passes: int) -> dict[str, float]:
        times = []
        for _ in range(passes):
            ms, found = _timed(fn)
            assert len(found) == expect, (len(found), expect)
            times.append(ms)
        return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}

    def pass_candidates() -> list[Any]:
        return recovery.candidates(limit=200)  # looked up when called: ``old`` swaps it

    def swept_candidates() -> list[Any]:
        with sweeper.without_jit():  # as a sweep runs it
            return recovery.candidates(limit=200)

    def pass_sweep() -> list[Any]:
        return sweeper.sweep(dry_run=True).resumes

    out: dict[str, Any] = {"rows_per_order": len(template), "stalled": STALLED, "levels": []}
    if args.overhead:
        out["insert_overhead"] = _overhead(connection, template, args.overhead)
        print(f"insert overhead: {out['insert_overhead']}", file=sys.stderr, flush=True)
        return out
    with connection.cursor() as cursor:
        ms, _ = _timed(lambda: _fill(cursor, 1, STALLED, template[:cut], "stalled"))
        cursor.execute("ANALYZE")
    out["stalled_rows"] = STALLED * cut
    placed = 0
    for level in args.levels:
        level_out: dict[str, Any] = {"orders": level}
        if level > placed:
            with connection.cursor() as cursor:
                first, last = STALLED + placed + 1, STALLED + level
                ms, inserted = _timed(lambda: _fill(cursor, first, last, template, "done"))  # noqa: B023
                # One statement logged them all: the frontier's rows came and went in it. Autovacuum clears such
                # dead rows as a day's orders churn; here they are cleared at once.
                cursor.execute("VACUUM ANALYZE pipelines_openposition")
                cursor.execute("ANALYZE")
            level_out["seed_s"] = ms / 1000
            level_out["seeded_rows"] = inserted
            placed = level
        level_out["log_rows"] = CheckpointLog.objects.count()
        level_out["open_positions"] = OpenPosition.objects.count()
        print(f"level {level:,}: {level_out}", file=sys.stderr, flush=True)
        old_passes = args.old_passes if level >= 100_000 else args.passes
        level_out["candidates_frontier"] = figure(swept_candidates, STALLED, args.passes)
        level_out["candidates_frontier_jit_on"] = figure(pass_candidates, STALLED, args.passes)
        level_out["sweep_dry_run_frontier"] = figure(pass_sweep, STALLED, args.passes)
        if level > args.old_max:
            print(json.dumps(level_out), file=sys.stderr, flush=True)
            out["levels"].append(level_out)
            continue
        level_out["candidates_old"] = figure(old(pass_candidates), STALLED, old_passes)
        level_out["sweep_dry_run_old"] = figure(old(pass_sweep), STALLED, old_passes)
        level_out["candidates_old_jit_off"] = figure(old(pass_candidates, jit=False), STALLED, old_passes)
        print(json.dumps(level_out), file=sys.stderr, flush=True)
        out["levels"].append(level_out)
    return out


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench sweep")
    parser.add_argument(
        "--levels",
        type=arguments.counts(0, arguments.MAX_ORDERS),
        default="0,200000,1000000",
        help="orders in the window, ascending",
    )
    parser.add_argument(
        "--passes", type=arguments.REPEATS, default=3, help="timed passes per figure (the median is reported)"
    )
    parser.add_argument(
        "--old-passes", type=arguments.REPEATS, default=1, help="passes of the old query at 100,000 orders and above"
    )
    parser.add_argument(
        "--pg-url",
        type=arguments.server_url,
        default=arguments.server_default(),
    )
    parser.add_argument("--keep", action="store_true", help="keep the database (tpfgo_bench_sweep) afterwards")
    parser.add_argument(
        "--old-max",
        type=arguments.count(0, 10**9),
        default=10**9,
        help="time the old query only up to this many orders",
    )
    parser.add_argument(
        "--overhead",
        type=arguments.ORDERS,
        metavar="ORDERS",
        help="only time logging ORDERS orders with and without the frontier",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    args.levels = sorted(int(level) for level in args.levels.split(","))
    name = "tpfgo_bench_sweep" if args.keep else f"tpfgo_bench_sweep_{uuid.uuid4().hex[:6]}"
    os.environ["DATABASE_URL"] = _database(args.pg_url, name)
    run_then_drop(args.pg_url, name, args.keep, lambda: run(args))


if __name__ == "__main__":
    main()
