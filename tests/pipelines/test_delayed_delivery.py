"""Later work with the database as the schedule (``TPFGO_DELAYED_DELIVERY=database``): an attempt whose due time
has come is published at once, a later one waits for ``pipelines.release_due``. Due times are the database's clock,
so the node that schedules one does not decide by its own."""

from __future__ import annotations

import datetime
import uuid

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
