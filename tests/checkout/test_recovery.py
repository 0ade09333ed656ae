"""The sweeper on the checkout chain: a stall is resumed even when a side pipeline ran on the order after it."""

import dataclasses
import datetime
from collections import Counter

import pytest
from django.utils import timezone

from checkout import services
from checkout.composition import COMPOSITION
from pipelines.models import Resumption
from pipelines.recovery import sweeper
from tests.checkout.conftest import checkpoint_types, place

pytestmark = pytest.mark.django_db

# The kitchen commits to the order, then the process dies before the kitchen tasks.
STOPS_AFTER_COMMITMENT = dataclasses.replace(
    COMPOSITION,
    pipelines=tuple(
        dataclasses.replace(p, steps=p.steps[:1]) if p.name == "kitchen-preparation" else p
        for p in COMPOSITION.pipelines
    ),
)


def test_an_order_stuck_in_the_kitchen_completes_after_a_refused_cancellation(demo_data, settings):
    settings.TPFGO_COMPOSITION = "tests.checkout.test_recovery.STOPS_AFTER_COMMITMENT"
    order_id = place().view["orderId"]
    settings.TPFGO_COMPOSITION = "checkout.composition.COMPOSITION"
    settings.TPFGO_RESUME_ENQUEUE = ""  # the sweeper resumes here, not through the worker
    assert services.get_order(order_id)["state"] != "COMPLETED"
    refused = services.cancel_order(order_id)["cancellation"]
    assert refused == {"outcome": "REFUSED", "reason": "ALREADY_PREPARING"}  # the newest rows: a refusal

    report = sweeper.sweep(now=timezone.now() + datetime.timedelta(minutes=5))

    assert len(report.resumes) == 1
    assert services.get_order(order_id)["state"] == "COMPLETED"
    untouched = place().view["orderId"]  # the same order, never stuck: exactly its rows, plus the refusal's
    expected = checkpoint_types(untouched) + Counter({"CancellationRequested": 1, "CancellationRefused": 1})
    assert checkpoint_types(order_id) == expected
    assert list(Resumption.objects.values_list("decision", flat=True)) == ["resumed"]
