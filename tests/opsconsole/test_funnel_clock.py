"""The dashboard's funnel and error windows read on a console node whose clock is off: the days and windows are the
database's clock, which the log's and the error sink's times are written with."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse

from checkout import services
from opsconsole import funnel, selectors
from pipelines.store import clock
from tests.checkout.conftest import order_body
from tests.conftest import node_clock

pytestmark = pytest.mark.django_db

SECONDS = datetime.timedelta(seconds=5)


def yesterday_evening() -> float:
    """How far to set a node back for its clock to read 23:50 yesterday by the database's: ten minutes behind at
    midnight, as the database sees it now."""
    now = clock.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return -((now - midnight).total_seconds() / 60 + 10)


def test_todays_orders_show_in_the_funnel_on_a_console_node_whose_clock_is_still_on_yesterday(reference_data):
    services.place_order(order_body(), "funnel-today")
    today = clock.now().date()

    with node_clock(yesterday_evening()):  # before: the window ended yesterday, and today's order was left out
        dates, rows, _ = selectors.funnel()
        since = selectors.error_window(1)

    assert dates[-1] == today and len(dates) == selectors.FUNNEL_DAYS
    assert {row.checkpoint_type: row.counts[-1] for row in rows}["OrderRequest"] == 1
    assert since is not None and abs(since - (clock.now() - datetime.timedelta(days=1))) < SECONDS


def test_a_fold_on_a_node_whose_clock_is_behind_shows_as_just_folded(reference_data, ops_client):
    services.place_order(order_body(), "funnel-fold")
    with node_clock(-15):  # the fold's node; before: the fold was written 15 minutes old
        funnel.fold()
    folded = funnel.position().folded_at
    assert folded is not None and clock.now() - SECONDS < folded <= clock.now()

    with node_clock(15):  # the console's node; before: the fold showed 15 minutes old
        page = ops_client.get(reverse("ops:index")).content.decode()
    assert ", 0\xa0minutes ago;" in page
