"""A real Celery worker on Redis drains a resumed pause at its rate; each held order completes exactly once."""

from __future__ import annotations

import datetime
import itertools

import pytest
from django.test import override_settings

from checkout.payment_outcome.models import PaymentOutcome
from checkout.terminal_order_state.models import TerminalOrderState
from pipelines.engine.registry import composition
from pipelines.models import ErrorSinkEntry, ParkingOutcome, PausedItem, PauseRelease, RetryClaim
from pipelines.recovery import pausing
from tests.checkout.conftest import place
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@override_settings(
    TPFGO_DRAIN_ENQUEUE="pipelines.tasks.enqueue_drain",  # the resume hands the drain to the worker
    TPFGO_PAUSE_DRAIN_PER_INTERVAL=2,
    TPFGO_PAUSE_DRAIN_INTERVAL_SECONDS=1,
)
def test_a_worker_drains_held_captures_at_the_resumes_rate(demo_data, start_worker):
    paused = pausing.pause(composition(), "payment-capture", "payment_outcome", actor="ops", reason="gateway down")
    orders = [place().view["orderId"] for _ in range(4)]
    assert PausedItem.objects.filter(pause=paused).count() == 4 and PaymentOutcome.objects.count() == 0

    worker = start_worker()  # a new process: it knows the pause only from its row
    pausing.resume(paused.id, actor="ops", reason="gateway back")
    wait_for(
        lambda: (
            TerminalOrderState.objects.filter(order_id__in=orders).count() == 4
            and ParkingOutcome.objects.filter(outcome="resolved").count() == 4
        ),  # written just after each run
        what="the held orders to complete",
        worker=worker,
    )

    releases = list(PauseRelease.objects.filter(pause=paused).order_by("slot"))
    assert [r.slot for r in releases] == [0, 1, 2, 3]
    # 2 per second: never two releases closer than 0.5 s (a drain run that comes late starts from its own time;
    # tests/checkout/test_pauses.py checks the exact due times with a controllable clock).
    gaps = [b.due_at - a.due_at for a, b in itertools.pairwise(releases)]
    assert min(gaps) >= datetime.timedelta(milliseconds=500)
    assert PaymentOutcome.objects.count() == 4 and ErrorSinkEntry.objects.count() == 0
    assert sorted(RetryClaim.objects.values_list("attempt", flat=True)) == [1, 1, 1, 1]
    assert ParkingOutcome.objects.filter(outcome="resolved").count() == 4
