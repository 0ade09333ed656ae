"""Workers racing for one attempt (or one stalled position) on PostgreSQL: the unique claim lets exactly one run it."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections

from checkout import services
from pipelines.failures import parking
from pipelines.models import CheckpointLog, Resumption, RetryClaim
from pipelines.recovery import resume, retries
from tests.checkout.conftest import checkpoint_types, place
from tests.integration.test_celery_retries import HAPPY

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(call: Callable[[int], Any], n: int = 8) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call(i)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_eight_workers_claiming_one_attempt_run_it_once(demo_data):
    order_id = place(paymentToken="tok_flaky_1").view["orderId"]
    parked = parking.open_failure(order_id).parked

    results = race(lambda i: retries.run_attempt(parked.pk, 2, worker=f"w{i}"))

    assert Counter(results)["inserted"] == 1
    assert set(results) <= {"inserted", "claimed-elsewhere", "closed"}
    assert RetryClaim.objects.count() == 1
    assert services.get_order(order_id)["state"] == "COMPLETED"
    assert checkpoint_types(order_id) == HAPPY


def test_eight_sweepers_resuming_one_position_resume_it_once(demo_data, settings):
    settings.TPFGO_COMPOSITION = "tests.checkout.compositions.WITHOUT_KITCHEN"
    order_id = place().view["orderId"]  # stops after 03: nobody starts preparation, as if the process died there
    settings.TPFGO_COMPOSITION = "checkout.composition.COMPOSITION"
    newest = CheckpointLog.objects.filter(trace_id=order_id).latest("seq")
    assert newest.publication == "tpfgo.restaurant.order-accepted.v1"

    results = race(lambda i: resume.resume(order_id, newest.seq, worker=f"s{i}"))

    assert Counter(results)["inserted"] == 1, results
    assert set(results) <= {"inserted", "claimed-elsewhere", "moved-on"}
    assert Resumption.objects.count() == 1
    assert services.get_order(order_id)["state"] == "COMPLETED"
    assert checkpoint_types(order_id) == HAPPY
