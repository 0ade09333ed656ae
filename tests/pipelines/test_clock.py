"""A node's reckoning of the database's clock (``pipelines.store.clock.reckoned``): its own clock plus the offset its
connections measure when they open, so the step path needs no round trip for the database's time."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.db import connections
from django.utils import timezone

from pipelines.models import Subscriber, SubscriberAck
from pipelines.store import clock
from pipelines.transport import subscriptions
from tests.conftest import node_clock

pytestmark = pytest.mark.django_db

SECONDS = datetime.timedelta(seconds=5)


def test_a_connection_opened_on_a_node_whose_clock_is_behind_measures_how_far_behind_it_is():
    opened = connections.create_connection("default")
    try:
        with time_machine.travel(timezone.now() - datetime.timedelta(minutes=15), tick=False):
            opened.ensure_connection()  # as every new connection of a node does
            reckoned = clock.reckoned()
        database = clock.now()
        assert database - SECONDS < reckoned <= database  # before: 15 minutes behind, the node's own clock
    finally:
        opened.close()
        clock.calibrate()


def test_a_node_in_step_with_the_database_reckons_by_its_own_clock():
    clock.calibrate()
    with time_machine.travel(timezone.now(), tick=False):
        assert clock.reckoned() == timezone.now()  # an offset under a second is the round trip's, not drift


def test_a_subscriber_acknowledging_through_a_node_whose_clock_is_behind_is_recorded_at_the_databases_time():
    with node_clock(-15):  # the web node; before: the subscriber and its ack were written 15 minutes old
        assert subscriptions.acknowledge("warehouse", "tpfgo.checkout.order-ready.v1", 0) == 0
    database = clock.now()
    [subscriber] = Subscriber.objects.all()
    [ack] = SubscriberAck.objects.all()
    assert database - SECONDS < subscriber.created_at <= ack.created_at <= database
