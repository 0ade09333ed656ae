"""Later work with the database as the schedule (``TPFGO_DELAYED_DELIVERY=database``): an attempt whose due time
has come is published at once, a later one waits for ``pipelines.release_due``. Due times are the database's clock,
so the node that schedules one does not decide by its own. With the broker as the schedule (``broker``), a message's
ETA is that clock too, whichever node publishes it: the worker that takes it compares it with its own."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest

from pipelines import tasks
from pipelines.store import clock
from tests.conftest import node_clock

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(settings, monkeypatch) -> list[tuple[str, int]]:
    """What would reach the broker (the process edge): each attempt's parked id and number."""
    settings.TPFGO_DELAYED_DELIVERY = "database"
    sent: list[tuple[str, int]] = []
    monkeypatch.setattr(tasks.retry_parked, "apply_async", lambda args, **options: sent.append(tuple(args)))
    return sent


def test_an_attempt_scheduled_on_a_node_whose_clock_is_ahead_waits_for_its_due_time(published):
    parked = uuid.uuid4()
    due = clock.now() + datetime.timedelta(minutes=1)  # a minute's backoff, by the database's clock
    with node_clock(15):  # before: due 14 minutes ago by this node's clock, it was published at once
        assert tasks.enqueue_retry(parked, 2, due)
    assert published == []


def test_an_attempt_due_now_on_a_node_whose_clock_is_behind_is_published_at_once(published):
    parked, due = uuid.uuid4(), clock.now()
    with node_clock(-15):  # before: due 15 minutes ahead by this node's clock, it waited for the release
        assert tasks.enqueue_retry(parked, 2, due)
    assert published == [(str(parked), 2)]


def message_eta(options: dict[str, Any]) -> datetime.datetime:
    """The ETA a message published with ``options`` carries, as Celery's publisher writes it on this node (a
    countdown becomes this node's clock plus it)."""
    from tpfgo_site.celery import app

    when = {"countdown": options.get("countdown"), "eta": options.get("eta")}
    message = app.amqp.as_task_v2("task-1", "pipelines.drain_pause", (), **when)
    return datetime.datetime.fromisoformat(message.headers["eta"])


@pytest.fixture
def broker_published(settings, monkeypatch) -> list[datetime.datetime]:
    """The ETA of every retry or drain pass that would reach the broker (the process edge), with the broker as the
    schedule; read on the publishing node."""
    settings.TPFGO_DELAYED_DELIVERY = "broker"
    etas: list[datetime.datetime] = []
    for task in (tasks.retry_parked, tasks.drain_pause):
        monkeypatch.setattr(task, "apply_async", lambda args, **options: etas.append(message_eta(options)))
    return etas


def test_a_drain_pass_published_by_a_node_whose_clock_is_ahead_is_due_an_interval_later_by_the_databases_clock(
    broker_published,
):
    before = clock.now()
    with node_clock(15):  # a worker's node; before: due 15 minutes late on every worker whose clock is right
        tasks.enqueue_drain(uuid.uuid4(), 5.0)
    [eta] = broker_published
    assert before < eta <= clock.now() + datetime.timedelta(seconds=5)


def test_an_attempt_published_by_a_node_whose_clock_is_behind_is_due_at_its_due_time(broker_published):
    due = clock.now() + datetime.timedelta(minutes=1)
    with node_clock(-15):  # the due time is the database's, not converted through this node's clock
        assert tasks.enqueue_retry(uuid.uuid4(), 2, due)
    assert broker_published == [due]


def failed_checks() -> set[str]:
    from django.core import checks

    return {message.id for message in checks.run_checks() if message.is_serious()}


@pytest.mark.parametrize(
    ("broker_url", "delivery", "refused"),
    [
        ("amqp://guest:guest@127.0.0.1:5672//", "broker", True),
        ("amqp://guest:guest@127.0.0.1:5672//", "database", False),
        ("redis://127.0.0.1:6379/0", "broker", False),
    ],
)
def test_the_broker_as_the_schedule_on_rabbitmq_fails_the_checks(settings, broker_url, delivery, refused):
    """Its quorum queues take no global QoS: a worker holding retries not yet due fetched nothing else until they
    were, so every retry due behind one with a long backoff waited for it."""
    settings.CELERY_BROKER_URL, settings.TPFGO_DELAYED_DELIVERY = broker_url, delivery

    assert ("pipelines.E052" in failed_checks()) is refused
