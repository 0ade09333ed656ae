"""Knee simulation: K processes, K = 1..N, each replaying the single-order path's statement profile against one
PostgreSQL database; where adding writers stops adding orders/s.

    python -m bench knee                         # K = 1, 2, 3, 4, 6, 8; 15 s each
    python -m bench knee --workers 1,2,4 --seconds 10

A fresh database is migrated and one real order is placed through the engine; its checkpoint-log rows give the
profile: per step, one transaction that inserts the checkpoint (into ``bench_knee_checkpoint``: a uuid key, a
unique business key, a JSON payload like a checkpoint's), its ``CheckpointLog`` row and its ``LineageLink`` (the
real, partitioned tables, with their insert-only guards and the sweeper frontier's triggers), and reads the
previous checkpoint back by key and the trace's log by ``(trace_number, seq)`` as the engine does; one ``Trace``
insert per order first. Each process talks to PostgreSQL through psycopg directly (no Django, no engine), so the
figure is what the database sustains for this statement mix, with little client CPU in the way: the engine's own
Python cost per order is ``python -m bench``'s ``tpfgo_single``.

Printed per K: orders/s (all processes together), p50/p95 per order, and the CPU seconds (user + system) over the
run: the replaying processes' own (each measures itself with ``time.process_time()`` and reports it before it
closes its connection), the postgres processes' and every other process's on the machine from ``/proc``, read
while the replaying processes and their backends are still alive (a process that exited is gone from ``/proc``,
and its ticks with it). The knee is where orders/s stops rising. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from queue import Empty
from typing import Any

from bench import arguments
from bench.dashboard import BODY, _database

TABLE = """CREATE TABLE IF NOT EXISTS bench_knee_checkpoint (
    id uuid PRIMARY KEY, trace_id uuid NOT NULL, business_key varchar(200) NOT NULL UNIQUE,
    created_at timestamptz NOT NULL, payload jsonb NOT NULL)"""
PAYLOAD = json.dumps({"order": BODY, "total": "22.00", "currency": "USD", "note": "x" * 120})


Template = list[tuple[str, str, str, str]]


@dataclass
class Replay:
    """What one replaying process reports before it closes its connection: its orders' latencies (ms), the CPU
    seconds it spent replaying them, and the pid of its postgres backend."""

    latencies: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    backend_pid: int = 0


def _ticks(replaying: Collection[int] = ()) -> dict[str, int]:
    """CPU ticks (user + system) of postgres processes and of every other process but ``replaying``, from /proc."""
    out = {"postgres": 0, "other": 0}
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) in replaying:
            continue
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)
            name = fields[0].split("(", 1)[1]
            rest = fields[1].split()
            out["postgres" if name.startswith("postgres") else "other"] += int(rest[11]) + int(rest[12])
        except (OSError, IndexError, ValueError):
            continue
    return out


def _worker(url: str, template: Template, start_at: float, stop_at: float, out: Queue[Replay], done: Event) -> None:
    """Replay orders from ``start_at`` to ``stop_at``, report them, and keep the connection (so its backend stays in
    /proc) until the bench has read the CPU ticks and sets ``done``."""
    import psycopg

    replay = Replay()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            replay.backend_pid = conn.info.backend_pid
            while time.time() < start_at:
                time.sleep(0.005)
            began = time.process_time()
            while time.time() < stop_at:
                started = time.perf_counter()
                _one_order(conn, template)
                replay.latencies.append((time.perf_counter() - started) * 1000)
            replay.cpu_s = time.process_time() - began
            out.put(replay)
            done.wait(600)
    except BaseException:
        out.put(replay)  # a process that failed still answers: the bench waits for every one
        raise


def point(
    workers: int, replays: list[Replay], wall_s: float, before: dict[str, int], after: dict[str, int]
) -> dict[str, float]:
    """One K's figures from its processes' reports and the /proc ticks read before and after them."""
    latencies = [ms for replay in replays for ms in replay.latencies]
    hz = os.sysconf("SC_CLK_TCK")
    return {
        "workers": workers,
        "orders_per_s": len(latencies) / wall_s,
        "p50_ms": statistics.median(latencies),
        "p95_ms": statistics.quantiles(latencies, n=20)[-1] if len(latencies) > 1 else latencies[0],
        "replay_cpu_s": sum(replay.cpu_s for replay in replays),
        "postgres_cpu_s": (after["postgres"] - before["postgres"]) / hz,
        "other_cpu_s": (after["other"] - before["other"]) / hz,
        "wall_s": wall_s,
        "load": os.getloadavg()[0],
    }


def _one_order(conn: Any, template: Template) -> None:
    trace_id = uuid.uuid4()
    number, created = conn.execute(
        "INSERT INTO pipelines_trace (trace_id, created_at) VALUES (%s, now()) RETURNING number, created_at",
        [trace_id],
    ).fetchone()
    parent: tuple[str, uuid.UUID] | None = None
    for kind, pipeline, step, publication in template:
        child = uuid.uuid4()
        with conn.transaction():
            if parent is not None:
                conn.execute("SELECT payload FROM bench_knee_checkpoint WHERE id = %s", [parent[1]]).fetchone()
            conn.execute(
                "INSERT INTO bench_knee_checkpoint (id, trace_id, business_key, created_at, payload) "
                "VALUES (%s, %s, %s, now(), %s) ON CONFLICT DO NOTHING",
                [child, trace_id, f"{trace_id}:{step}", PAYLOAD],
            )
            conn.execute(
                "INSERT INTO pipelines_checkpointlog (checkpoint_type, checkpoint_id, trace_id, trace_number, pipeline,"
                " step, publication, created_at, trace_created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, now(), %s)",
                [kind, child, trace_id, number, pipeline, step, publication, created],
            )
            if parent is not None:
                conn.execute(
                    "INSERT INTO pipelines_lineagelink (child_type, child_id, parent_type, parent_id, ordinal,"
                    " trace_id, trace_number, trace_created_at) VALUES (%s, %s, %s, %s, 0, %s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    [kind, child, parent[0], parent[1], trace_id, number, created],
                )
            conn.execute(
                "SELECT seq FROM pipelines_checkpointlog WHERE trace_number = %s ORDER BY seq DESC LIMIT 1", [number]
            ).fetchone()
        parent = (kind, child)


def reports(queue: Queue[Replay], procs: list[multiprocessing.Process]) -> list[Replay]:
    """One report per replaying process. A process reports before it waits for the bench, so one that ended
    while reports are missing was killed before it could (the OOM killer, a signal): the bench stops, it does not
    wait for ever."""
    replays: list[Replay] = []
    while len(replays) < len(procs):
        try:
            replays.append(queue.get(timeout=1.0))
        except Empty:
            ended = [proc for proc in procs if proc.exitcode is not None]
            if ended:
                codes = ", ".join(str(proc.exitcode) for proc in ended)
                missing = len(procs) - len(replays)
                raise SystemExit(
                    f"{len(procs)} processes: {missing} never reported; ended with exit codes {codes}"
                ) from None
    return replays


def profile() -> Template:
    """The single-order path's statement profile: one order placed through the engine, its log rows in order."""
    from checkout import demo, services
    from pipelines.models import CheckpointLog

    demo.load()
    order_id = services.place_order(BODY, "bench-template").view["orderId"]
    rows = CheckpointLog.objects.filter(trace_id=order_id).order_by("seq")
    return [(r.checkpoint_type, r.pipeline, r.step, r.publication) for r in rows]


def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    call_command("migrate", verbosity=0)
    steps = profile()
    with connection.cursor() as cursor:
        cursor.execute(TABLE)
    connections.close_all()
    out: dict[str, Any] = {"steps_per_order": len(steps), "cores": os.cpu_count(), "points": []}
    for workers in args.workers:
        queue: Queue[Replay] = multiprocessing.Queue()
        done = multiprocessing.Event()
        start_at = time.time() + 1.0
        stop_at = start_at + args.seconds
        procs = [
            multiprocessing.Process(target=_worker, args=(url, steps, start_at, stop_at, queue, done))
            for _ in range(workers)
        ]
        for proc in procs:
            proc.start()
        replaying = {proc.pid for proc in procs if proc.pid is not None}
        try:
            while time.time() < start_at:
                time.sleep(0.01)
            before, began = _ticks(replaying), time.perf_counter()
            replays = reports(queue, procs)
            elapsed, after = time.perf_counter() - began, _ticks(replaying)
        finally:
            done.set()  # the processes wait for it to disconnect, also when the bench fails
        for proc in procs:
            proc.join()
        if any(proc.exitcode for proc in procs):
            raise SystemExit(f"{workers} processes: a replaying process failed (its traceback is above)")
        figures = point(workers, replays, elapsed, before, after)
        print(json.dumps(figures), file=sys.stderr, flush=True)
        out["points"].append(figures)
    return out


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench knee")
    parser.add_argument(
        "--workers",
        type=arguments.counts(1, arguments.MAX_PROCESSES),
        default="1,2,3,4,6,8",
        help="K values: processes replaying at once",
    )
    parser.add_argument("--seconds", type=arguments.SECONDS, default=15.0, help="how long each K runs")
    parser.add_argument(
        "--pg-url",
        type=arguments.server_url,
        default=arguments.server_default(),
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    args.workers = [int(k) for k in args.workers.split(",")]
    name = f"tpfgo_bench_knee_{uuid.uuid4().hex[:6]}"
    url = _database(args.pg_url, name)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tpfgo_site.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    try:
        result = run(args, url)
    finally:
        import psycopg

        with psycopg.connect(args.pg_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
