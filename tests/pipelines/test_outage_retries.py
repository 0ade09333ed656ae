"""How a worker's task is run again through a database outage (``pipelines.tasks``): the waits, and for how long."""

from __future__ import annotations

import datetime

import pytest

from pipelines import tasks


def test_the_waits_double_from_one_second_up_to_thirty():
    assert [tasks.outage_delay(n) for n in range(8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert tasks.outage_delay(10_000) == 30.0


@pytest.mark.parametrize("timeout", [0.5, 31.0, 45.0, 900.0])
def test_a_task_is_run_again_until_its_waits_add_up_to_the_claim_timeout(settings, timeout):
    settings.TPFGO_SWEEP_CLAIM_TIMEOUT_SECONDS = timeout
    runs = tasks.outage_retries_allowed()
    waits = [tasks.outage_delay(n) for n in range(runs)]
    assert sum(waits) >= timeout > sum(waits[:-1])


@pytest.mark.parametrize(
    ("retries", "delivery_info", "again"),
    [
        (0, {}, False),  # a first run
        (0, {"redelivered": True}, False),  # a first run's message the broker gave back
        (1, {}, True),  # Celery published the task again: after an outage, or after its process died
        (1, {"redelivered": False}, True),
        (2, {"redelivered": True}, False),  # a run again's message the broker gave back: that run may go on
    ],
)
def test_only_a_run_celery_published_again_takes_up_its_claim(retries, delivery_info, again):
    tasks.retry_parked.push_request(id="task-1", retries=retries, delivery_info=delivery_info)
    try:
        assert tasks.run_again(tasks.retry_parked) is again
        assert tasks.claimer(tasks.retry_parked).startswith("task-1@")
    finally:
        tasks.retry_parked.pop_request()


@pytest.mark.parametrize("name", ["pipelines.retry_parked", "pipelines.resume_trace", "pipelines.hand_off"])
def test_a_task_carrying_work_runs_again_at_once_when_its_process_dies_at_most_three_times(name):
    from tpfgo_site.celery import app

    task = app.tasks[name]
    assert (task.retry_on_worker_lost, task.default_retry_delay, task.max_retries) == (True, 0, 3)
    assert task.acks_late and task.reject_on_worker_lost


@pytest.mark.parametrize("retries", [0, tasks.WORKER_LOST_RUNS, tasks.WORKER_LOST_RUNS + 2])
def test_an_outage_is_waited_out_past_the_runs_again_a_dead_process_gets(monkeypatch, settings, retries):
    """Celery's ``retry(max_retries=None)`` means the task's own limit (3, for a dead process), not "no limit": the
    outage's runs again then stopped after 1 + 2 + 4 s, and the task failed with the outage's error."""
    from celery.canvas import Signature
    from celery.exceptions import Retry
    from django.db import InterfaceError

    settings.TPFGO_SWEEP_CLAIM_TIMEOUT_SECONDS = 900.0
    sent: list[object] = []
    monkeypatch.setattr(Signature, "apply_async", lambda self, *args, **kwargs: sent.append(self))
    task = tasks.retry_parked
    task.push_request(id="task-1", retries=retries, called_directly=False, delivery_info={})
    try:
        with pytest.raises(Retry), tasks.through_outages(task):
            raise InterfaceError("connection already closed")
    finally:
        task.pop_request()
    assert len(sent) == 1


@pytest.mark.django_db
def test_an_outage_met_on_a_node_whose_clock_is_behind_is_run_again_a_second_later_by_the_databases_clock(
    monkeypatch,
):
    from celery.canvas import Signature
    from celery.exceptions import Retry
    from django.db import InterfaceError

    from pipelines.store import clock
    from tests.conftest import node_clock
    from tests.pipelines.test_delayed_delivery import message_eta

    etas: list[datetime.datetime] = []
    monkeypatch.setattr(Signature, "apply_async", lambda self, *args, **kwargs: etas.append(message_eta(self.options)))
    task = tasks.retry_parked
    task.push_request(id="task-1", retries=0, called_directly=False, delivery_info={})
    before = clock.now()
    try:
        with node_clock(-15), pytest.raises(Retry), tasks.through_outages(task):
            raise InterfaceError("connection already closed")  # before: due 15 minutes ago, run again at once
    finally:
        task.pop_request()
    [eta] = etas
    assert before < eta <= clock.now() + datetime.timedelta(seconds=tasks.OUTAGE_FIRST_DELAY)
