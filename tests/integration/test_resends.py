"""Behind a backlog, the sweeper's copies of lost work in a real Redis queue grow on a doubling interval."""

from __future__ import annotations

import datetime
import json
from collections import Counter

import pytest
from django.utils import timezone

from pipelines.models import RetryScheduled, SweepDispatch
from pipelines.recovery import sweeper
from tests.checkout.conftest import place

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def queued(broker) -> Counter[str]:
    """The tasks waiting in the default queue, by name (kombu's Redis messages carry it in their headers)."""
    return Counter(json.loads(raw)["headers"]["task"] for raw in broker.lrange("celery", 0, -1))


def test_ten_minutes_of_sweeps_without_a_worker_queue_five_copies_of_lost_work_not_fifty_five(
    demo_data, broker, settings
):
    settings.TPFGO_RESUME_ENQUEUE = "pipelines.tasks.enqueue_resume"
    settings.TPFGO_SWEEP_GRACE_SECONDS = 60
    settings.TPFGO_SWEEP_WINDOW_SECONDS = 3600
    settings.TPFGO_SWEEP_RESEND_SECONDS = 30
    settings.TPFGO_SWEEP_RESEND_MAX_SECONDS = 240
    place(paymentToken="tok_flaky_1")
    assert queued(broker) == Counter({"pipelines.retry_parked": 1})  # enqueued on commit
    broker.delete("celery")  # lost with a restarted Redis; no worker consumes what follows either
    (scheduled,) = RetryScheduled.objects.all()
    start = max(timezone.now(), scheduled.due_at)

    for seconds in range(0, 601, 10):  # a sweep every 10 s for ten minutes, the queue never drained
        sweeper.sweep(now=start + datetime.timedelta(seconds=seconds))

    # Overdue past the grace period at 60 s, then sent again after 30, 60, 120 and 240 s (the longest interval).
    # The order's trace stands still before the parked step too, so its position is resumed alike (the resume, when a
    # worker runs it, finds the parked item and settles the position).
    assert queued(broker) == Counter({"pipelines.retry_parked": 5, "pipelines.resume_trace": 5})
    for kind in ("retry", "resume"):
        sends = SweepDispatch.objects.filter(kind=kind).order_by("send")
        assert [round((s.created_at - start).total_seconds()) for s in sends] == [60, 90, 150, 270, 510]
