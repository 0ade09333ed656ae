"""A second copy of a consumed queued hand-off, with every publication queued: it runs nothing and sends nothing on
(its replay handed every later queued pipeline of the chain its checkpoint again: six more messages and runs)."""

from __future__ import annotations

import pytest

from pipelines.engine import consuming
from pipelines.models import QueuedHandoff
from tests.checkout.conftest import place
from tests.checkout.facts import completed_order_handoffs
from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db

SENT: list[tuple[str, ...]] = []


def capture(*message: str) -> None:
    """``TPFGO_HANDOFF_SEND``: the messages a broker would carry, kept for the test to deliver."""
    SENT.append(message)


def test_a_second_copy_of_a_consumed_hand_off_runs_nothing_and_sends_nothing_on(
    demo_data, settings, django_capture_on_commit_callbacks
):
    settings.TPFGO_PUBLICATION_MODES = "*=queue"
    settings.TPFGO_HANDOFF_SEND = "tests.checkout.test_queued_duplicates.capture"
    SENT.clear()
    with django_capture_on_commit_callbacks(execute=True):
        order_id = place().view["orderId"]
    for message in SENT:  # a worker's part: each hand-off once, in the order they were sent (the list grows)
        with django_capture_on_commit_callbacks(execute=True):
            consuming.consume(*message)
    assert len(SENT) == completed_order_handoffs() and QueuedHandoff.objects.count() == 0
    counts = all_insert_only_counts()

    with django_capture_on_commit_callbacks(execute=True):
        assert consuming.consume(*SENT[0]) == "duplicate"  # a redelivery, or the sweeper's resend behind a backlog

    assert len(SENT) == completed_order_handoffs()  # nothing sent on
    assert QueuedHandoff.objects.filter(trace_id=order_id).count() == 0
    assert all_insert_only_counts() == counts
