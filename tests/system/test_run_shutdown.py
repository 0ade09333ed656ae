"""A signal to ``make run``'s process group stops everything, finishing the Celery task at hand, and leaves nothing."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.system.conftest import STOP_BOUND, MakeRun, wait_for

pytestmark = pytest.mark.integration

RUNS = 5
RETRY_SECONDS = "2"  # the in-flight task: well inside bin/run's warm grace (10 s)


def retries_started(run: MakeRun) -> list[str]:
    marker = run.var / "retry-started"
    return marker.read_text().split() if marker.exists() else []


def authorized(run: MakeRun, order_id: str) -> int:
    sql = "SELECT COUNT(*) FROM payment_authorized_paymentauthorized WHERE order_id = ?"
    return int(run.rows(sql, order_id.replace("-", ""))[0][0])


def parking_outcomes(run: MakeRun, order_id: str) -> list[tuple[str, int]]:
    return [
        (outcome, attempts)
        for outcome, attempts in run.rows(
            "SELECT o.outcome, o.attempts FROM pipelines_parkingoutcome o "
            "JOIN pipelines_parkeditem p ON p.id = o.parked_id WHERE p.trace_id = ?",
            order_id.replace("-", ""),
        )
    ]


def test_sigterm_five_times_stops_everything_and_finishes_the_task_in_flight(make_run, tmp_path):
    durations = []
    for number in range(RUNS):
        run: MakeRun = make_run(tmp_path, TPFGO_TEST_RETRY_SECONDS=RETRY_SECONDS)
        order_id = run.place(f"shutdown-{number}", paymentToken="tok_flaky_1")["orderId"]
        started = lambda run=run, order_id=order_id: order_id in retries_started(run)  # noqa: E731
        wait_for(started, 60, "the worker to start the retry", run)
        assert authorized(run, order_id) == 0  # in flight: the retry sleeps before it authorizes

        durations.append(run.stop(signal.SIGTERM))

        assert run.leftovers() == []
        # Warm: the worker finished the retry it had started before it exited.
        assert authorized(run, order_id) == 1
        assert parking_outcomes(run, order_id) == [("resolved", 2)]
        assert retries_started(run).count(order_id) == 1
    assert len(durations) == RUNS and max(durations) < STOP_BOUND
    print(f"stop durations (s): {[round(d, 1) for d in durations]}")


def test_a_second_sigterm_stops_cold_and_the_interrupted_task_runs_again_after_a_restart(make_run, tmp_path):
    # The restarted run's sweeper treats the interrupted attempt's claim as lost at once (it died with its worker).
    sweep_now = {"TPFGO_SWEEP_CLAIM_TIMEOUT_SECONDS": "0", "TPFGO_SWEEP_GRACE_SECONDS": "0"}
    run: MakeRun = make_run(tmp_path, TPFGO_TEST_RETRY_SECONDS="60")
    order_id = run.place("shutdown-cold", paymentToken="tok_flaky_1")["orderId"]
    wait_for(lambda: order_id in retries_started(run), 60, "the worker to start the retry", run)

    os.killpg(run.process.pid, signal.SIGTERM)
    wait_for(lambda: '"event": "run.stopping", "reason": "signal received"' in run.output(), 30, "the stop", run)
    time.sleep(1.5)  # past bin/run's one-second window that merges make's copy of the first signal
    assert run.stop(signal.SIGTERM) < STOP_BOUND

    assert run.leftovers() == []
    assert run.output().count('"event": "run.signal", "signal": "SIGTERM"') >= 2
    assert '"event": "run.stopping_cold"' in run.output()
    assert authorized(run, order_id) == 0 and parking_outcomes(run, order_id) == []  # interrupted, not finished

    again: MakeRun = make_run(tmp_path, TPFGO_TEST_RETRY_SECONDS="0", **sweep_now)
    wait_for(lambda: again.state(order_id) == "COMPLETED", 90, "the interrupted retry to run again", again)
    assert authorized(again, order_id) == 1
    assert parking_outcomes(again, order_id) == [("resolved", 3)]  # attempt 2 was lost with its worker
    assert again.stop() < STOP_BOUND and again.leftovers() == []


def test_servers_do_not_outlive_a_killed_make_run(make_run, tmp_path):
    run: MakeRun = make_run(tmp_path)
    os.killpg(run.process.pid, signal.SIGKILL)  # make and bin/run die at once, with no chance to stop anything
    run.process.wait(timeout=STOP_BOUND)

    # Each server got SIGTERM from the kernel when bin/run died (its parent-death signal) and stopped by itself.
    wait_for(lambda: not run.leftovers(), STOP_BOUND, "the servers to stop after bin/run was killed")
