"""Processes placing orders are SIGKILLed between two checkpoints; after restart the sweeper completes every order."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from django.conf import settings

from checkout import services
from pipelines.models import CheckpointLog, ErrorSinkEntry, ParkedItem, Resumption
from tests.checkout.conftest import checkpoint_types, order_body
from tests.integration.conftest import process_env, wait_for
from tests.integration.test_celery_retries import HAPPY

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# The step whose commit each process dies right after: inside 01, between pipelines, after the pivot, inside the
# split/merge of 04, after dispatch, mid-delivery, and after the capture (the chain's second external effect).
CRASH_POINTS = (
    "order_request",
    "ready_order",
    "payment_authorized",
    "order_approved",
    "kitchen_task",
    "order_ready_for_dispatch",
    "delivery_assigned",
    "order_picked_up",
    "payment_outcome",
)
PLACE = (
    "import django, json, sys; django.setup(); from checkout import services; "
    "services.place_order(json.loads(sys.argv[1]), sys.argv[2])"
)


def test_every_order_a_crash_left_between_two_checkpoints_completes_once(demo_data, start_worker):
    runs = {
        point: subprocess.Popen(
            [sys.executable, "-c", PLACE, json.dumps(order_body()), f"crash-{point}"],
            env=process_env(TPFGO_CRASH_AFTER=point),
            cwd=settings.BASE_DIR,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for point in CRASH_POINTS
    }
    orders = {}
    for point, process in runs.items():
        _, err = process.communicate(timeout=60)
        assert process.returncode == -9, f"{point}: {process.returncode}\n{err.decode()[-2000:]}"
        order_id = str(services.order_id_for(f"crash-{point}"))
        newest = CheckpointLog.objects.filter(trace_id=order_id).latest("seq")
        assert newest.step == point  # the process died right after this step's commit, nothing later exists
        assert services.get_order(order_id)["stalled"] is None  # a crash leaves no failure behind
        orders[point] = order_id

    worker = start_worker()  # "after restart": the worker's beat runs the sweeper every half second

    for point, order_id in orders.items():
        wait_for(
            lambda o=order_id: services.get_order(o)["state"] == "COMPLETED",
            timeout=45,
            what=f"the order crashed after {point} to complete",
            worker=worker,
        )
    for point, order_id in orders.items():
        assert checkpoint_types(order_id) == HAPPY, point  # exactly one row per checkpoint type
        assert Resumption.objects.filter(trace_id=order_id, decision="resumed").count() == 1, point
    assert ErrorSinkEntry.objects.count() == 0 and ParkedItem.objects.count() == 0
    assert uuid.UUID(orders["order_request"])
