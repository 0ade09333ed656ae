"""A node's reckoning of the database's clock (``pipelines.store.clock.reckoned``): its own clock plus the offset its
connections measure when they open, so the step path needs no round trip for the database's time."""

from __future__ import annotations

import datetime
import time

import pytest
import time_machine
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from structlog.testing import capture_logs

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


def test_a_process_that_keeps_its_connection_measures_its_offset_again_once_it_is_older_than_the_interval(settings):
    """A ``manage.py`` command runs for hours on one connection, and NTP steps its node's clock 15 minutes back
    meanwhile. Once its offset is older than ``TPFGO_CLOCK_MEASURE_SECONDS`` (by the monotonic clock, which the step
    does not move) the next reckoning measures it again (before: 15 minutes behind until the command ended)."""
    settings.TPFGO_CLOCK_MEASURE_SECONDS = 0.05
    clock.calibrate()  # its connection, opened while its clock was right
    try:
        with time_machine.travel(timezone.now() - datetime.timedelta(minutes=15), tick=False):  # the step
            time.sleep(0.05)  # the interval passes
            with CaptureQueriesContext(connections["default"]) as measured:
                reckoned = clock.reckoned()
        database = clock.now()
        assert database - SECONDS < reckoned <= database
        assert len(measured.captured_queries) == 1  # one statement, once per interval
    finally:
        clock.calibrate()


def test_within_the_interval_a_reckoning_costs_no_round_trip(settings, django_assert_num_queries):
    settings.TPFGO_CLOCK_MEASURE_SECONDS = 60
    clock.calibrate()
    try:
        with time_machine.travel(timezone.now() - datetime.timedelta(minutes=15), tick=False):
            with django_assert_num_queries(0):
                reckoned = clock.reckoned()
        assert clock.now() - reckoned > datetime.timedelta(minutes=14)  # stepped since: measured again only later
    finally:
        clock.calibrate()


def test_a_subscriber_acknowledging_through_a_node_whose_clock_is_behind_is_recorded_at_the_databases_time():
    with node_clock(-15):  # the web node; before: the subscriber and its ack were written 15 minutes old
        assert subscriptions.acknowledge("warehouse", "tpfgo.checkout.order-ready.v1", 0) == 0
    database = clock.now()
    [subscriber] = Subscriber.objects.all()
    [ack] = SubscriberAck.objects.all()
    assert database - SECONDS < subscriber.created_at <= ack.created_at <= database


@pytest.mark.django_db(transaction=True)
def test_a_reckoning_whose_measurement_fails_keeps_the_last_offset(settings):
    """The database went away under a process (an outage's run again reckons its ETA): the reckoning answers with
    the offset it had and asks again an interval later, rather than failing."""
    connection = connections["default"]
    if connection.vendor != "postgresql":
        pytest.skip("ends the session from another connection")
    settings.TPFGO_CLOCK_MEASURE_SECONDS = 0.05
    clock.calibrate()
    try:
        other = connection.copy()
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
        other.close()
        time.sleep(0.05)
        with capture_logs() as logs:
            reckoned = clock.reckoned()
        assert abs(reckoned - timezone.now()) < SECONDS
        assert [e["event"] for e in logs] == ["clock.measure_failed"]
    finally:
        connection.close()
        clock.calibrate()
