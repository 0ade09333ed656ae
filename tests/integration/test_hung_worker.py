"""A call that never answers, in a real Celery worker: Celery's hard time limit (``TPFGO_WORK_TIME_LIMIT_SECONDS``)
kills the pool process that runs it and starts another, and the sweeper runs the attempt again. Without the limit
two hung calls held both pool processes for good: the worker ran nothing more, not even the sweep.
"""

from __future__ import annotations

import socket
import urllib.request

import pytest
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from pipelines.models import ErrorSinkEntry, ParkingOutcome, RetryClaim, SweepTick
from tests.checkout.conftest import checkpoint_types, place
from tests.integration.conftest import wait_for
from tests.integration.test_celery_retries import HAPPY, completed_and_resolved

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_attempts_hung_in_every_pool_process_are_cut_at_the_time_limit_and_run_again(
    demo_data, broker, start_worker, tmp_path
):
    # Both orders fail their first authorization here and are retried on the worker, whose two pool processes each
    # hang in one order's authorization. The lost attempts are recovered once the pool killed the hung processes.
    # A message carries the limit of the node that published it: the retries this process enqueued are dropped, and
    # the worker's sweeper sends them again with the worker's.
    orders = [place(paymentToken="tok_flaky_1").view["orderId"] for _ in range(2)]
    broker.flushdb()
    hung = tmp_path / "hung"
    hung.mkdir()
    worker = start_worker(
        TPFGO_PAYMENT_GATEWAY="tests.integration.hanging_gateway.HangingGateway",
        TPFGO_TEST_HANG_DIR=str(hung),
        TPFGO_WORK_TIME_LIMIT_SECONDS="3",
        TPFGO_SWEEP_ORPHAN_SECONDS="1",
    )

    for order_id in orders:
        wait_for(lambda o=order_id: completed_and_resolved(o), timeout=60, what="the order to complete", worker=worker)

    assert sorted(p.name for p in hung.iterdir()) == sorted(orders)  # each hung once
    assert worker.output().count("Hard time limit (3.0s) exceeded for pipelines.retry_parked") == 2
    for order_id in orders:
        assert checkpoint_types(order_id) == HAPPY
        claims = RetryClaim.objects.filter(parked__trace_id=order_id)
        assert sorted(claims.values_list("attempt", flat=True)) == [2, 3]  # the hung attempt, and the one after it
        entries = ErrorSinkEntry.objects.filter(trace_id=order_id).order_by("attempt")
        assert [(e.attempt, e.error_code) for e in entries] == [(1, "PAYMENT_GATEWAY_UNAVAILABLE"), (2, "ATTEMPT_LOST")]
    assert sorted(ParkingOutcome.objects.values_list("outcome", "attempts")) == [("resolved", 3), ("resolved", 3)]


def test_a_sweep_hung_on_a_lock_is_cut_at_the_time_limit_and_the_next_sweeps_run(
    demo_data, broker, start_worker, tmp_path
):
    # Another session holds the sweep slots' table locked, as a migration or a forgotten transaction can: every sweep
    # waits at its slot's claim. Without a limit the first two held both pool processes for as long as the lock (or a
    # database that stopped answering) lasted, and the worker swept nothing meanwhile, its beat and queue fine.
    holder = connection.copy()
    holder.ensure_connection()
    holder.connection.execute("BEGIN")
    holder.connection.execute(f'LOCK TABLE "{SweepTick._meta.db_table}" IN ACCESS EXCLUSIVE MODE')
    port = free_port()
    samples = tmp_path / "metrics"
    samples.mkdir()
    cut = "Hard time limit (3.0s) exceeded for pipelines.sweep"
    try:
        worker = start_worker(
            TPFGO_WORK_TIME_LIMIT_SECONDS="3",
            TPFGO_WORKER_METRICS_BIND=f"127.0.0.1:{port}",
            PROMETHEUS_MULTIPROC_DIR=str(samples),
        )
        wait_for(lambda: worker.output().count(cut) >= 2, timeout=60, what="two hung sweeps cut", worker=worker)
    finally:
        holder.connection.execute("ROLLBACK")
        holder.close()

    wait_for(SweepTick.objects.exists, timeout=30, what="a sweep after the lock", worker=worker)
    # Each sweep cut is one failed task (TPFGoCeleryTasksFailing), though Celery sends task_failure twice for it.
    wait_for(lambda: failed_sweeps(port) > 0, timeout=30, what="the failed sweeps counted", worker=worker)
    assert failed_sweeps(port) == worker.output().count(cut)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def failed_sweeps(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "tpfgo_celery_tasks_total" and sample.labels == {
                "outcome": "failed",
                "task": "pipelines.sweep",
            }:
                return sample.value
    return 0.0
