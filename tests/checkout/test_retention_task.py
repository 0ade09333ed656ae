"""The beat schedule runs the purge: ``purge-expired`` names the registered task ``pipelines.purge``, and the task
purges what the policies let go, as ``manage.py purge`` does."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from checkout import demo, services
from pipelines import tasks
from pipelines.models import PurgeRecord, Tombstone, Trace
from tests.checkout.conftest import order_body
from tpfgo_site.celery import app

pytestmark = pytest.mark.django_db

OLD = datetime.timedelta(days=400)  # past the default 365-day orders policy


def test_beat_schedules_the_registered_purge_task():
    entry = settings.CELERY_BEAT_SCHEDULE["purge-expired"]
    assert entry["task"] == "pipelines.purge"
    assert entry["task"] in app.tasks
    assert entry["schedule"] == settings.TPFGO_RETENTION_SCHEDULE_SECONDS


def test_the_task_purges_an_expired_order_and_keeps_a_recent_one():
    demo.load()
    with time_machine.travel(timezone.now() - OLD, tick=False):
        old = services.place_order(order_body(), "task-old").view["orderId"]
    recent = services.place_order(order_body(), "task-recent").view["orderId"]

    done = app.tasks["pipelines.purge"].apply().get()

    assert done["orders"] == 1
    assert [str(t.trace_id) for t in Tombstone.objects.all()] == [old]
    assert [str(t.trace_id) for t in Trace.objects.all()] == [recent]
    assert PurgeRecord.objects.filter(actor="beat").count() == 1
    assert tasks.purge.name == "pipelines.purge"
