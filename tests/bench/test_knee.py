"""The knee bench's CPU figures: a replaying process measures its own CPU and reports it while it is still connected
(its backend still in /proc when the bench reads the ticks), and the replaying figure is the sum of the reports.
``tests/bench/test_smoke.py`` runs ``python -m bench knee`` end to end."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from multiprocessing.queues import Queue

import pytest
from django.db import connection

from bench import knee
from tests.bench.test_smoke import server_url


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_replaying_process_reports_its_cpu_and_keeps_its_backend_until_the_bench_has_read_the_ticks() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the knee bench replays on PostgreSQL")
    steps = knee.profile()
    with connection.cursor() as cursor:
        cursor.execute(knee.TABLE)
    try:
        queue: Queue[knee.Replay] = multiprocessing.Queue()
        done = multiprocessing.Event()
        start_at = time.time() + 0.3
        worker = multiprocessing.Process(
            target=knee._worker, args=(server_url(), steps, start_at, start_at + 0.5, queue, done)
        )
        worker.start()
        replay = queue.get(timeout=60)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [replay.backend_pid])
            [(connected,)] = cursor.fetchall()
        done.set()
        worker.join(60)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE bench_knee_checkpoint")

    assert worker.exitcode == 0
    assert len(replay.latencies) > 0 and replay.cpu_s > 0
    assert connected == 1  # reported, not yet disconnected: the bench reads its backend's ticks before `done`


def test_the_replaying_cpu_is_the_sum_of_what_each_process_reported() -> None:
    replays = [knee.Replay([10.0, 30.0], 0.25, 101), knee.Replay([20.0], 0.5, 102)]
    before, after = {"postgres": 100, "other": 40}, {"postgres": 300, "other": 90}

    figures = knee.point(2, replays, 2.0, before, after)

    hz = os.sysconf("SC_CLK_TCK")
    assert figures["replay_cpu_s"] == 0.75
    assert figures["postgres_cpu_s"] == 200 / hz and figures["other_cpu_s"] == 50 / hz
    assert figures["orders_per_s"] == 1.5 and figures["p50_ms"] == 20.0


def _report(queue: Queue[knee.Replay]) -> None:
    queue.put(knee.Replay([5.0], 0.1, 1))


def _killed() -> None:
    os.kill(os.getpid(), 9)  # as the OOM killer would: no report, no traceback


def test_a_replaying_process_killed_before_it_reported_stops_the_bench_instead_of_a_wait_for_ever() -> None:
    queue: Queue[knee.Replay] = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_report, args=(queue,)), multiprocessing.Process(target=_killed)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    outcome: list[BaseException] = []

    def collect() -> None:
        try:
            knee.reports(queue, procs)
        except BaseException as exc:  # the outcome is what the test reads
            outcome.append(exc)

    waiting = threading.Thread(target=collect, daemon=True)  # a wait for ever fails the test, not the run
    waiting.start()
    waiting.join(30)

    assert not waiting.is_alive()
    [stopped] = outcome
    assert isinstance(stopped, SystemExit)
    assert str(stopped) == "2 processes: 1 never reported; ended with exit codes 0, -9"


def test_every_report_is_taken_while_the_processes_live() -> None:
    queue: Queue[knee.Replay] = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_report, args=(queue,)) for _ in range(3)]
    for proc in procs:
        proc.start()

    assert [r.latencies for r in knee.reports(queue, procs)] == [[5.0], [5.0], [5.0]]
    for proc in procs:
        proc.join(60)
