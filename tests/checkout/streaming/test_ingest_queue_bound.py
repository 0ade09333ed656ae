"""A downstream queue at its bound slows an NDJSON ingest stream instead of refusing its lines: the line waits its
Retry-After (its stage, and through the bounded buffers the stream's reader, wait with it) and is placed once the
worker drained the queue; past the wait budget it is answered RESOURCE_EXHAUSTED with nothing stored.

The wait is observed at the process edge (``time.sleep`` in ``checkout.ingest``); the worker's part runs there.
"""

from __future__ import annotations

import pytest

from checkout import ingest
from checkout.order_request.models import OrderRequest
from pipelines.engine import consuming
from pipelines.models import QueuedHandoff
from pipelines.recovery import backlog
from tests.checkout.streaming.conftest import line, ndjson, post
from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db(transaction=True)
SENT: list[tuple[str, ...]] = []


def capture(*message: str) -> None:
    SENT.append(message)


@pytest.fixture(autouse=True)
def one_queued(settings, demo_data, token):
    SENT.clear()
    settings.TPFGO_PUBLICATION_MODES = "*=queue"
    settings.TPFGO_HANDOFF_SEND = "tests.checkout.streaming.test_ingest_queue_bound.capture"
    settings.TPFGO_QUEUE_BACKLOG_BOUND = 1
    assert post(line("bound-first"), token)[0]["state"] == "APPROVAL_PENDING"  # its hand-off stays queued
    assert QueuedHandoff.objects.count() == 1
    backlog.forget()
    yield


def test_a_line_waits_for_the_worker_to_drain_the_queue_and_is_then_placed(settings, token, monkeypatch):
    waits: list[float] = []

    def worker_drains_meanwhile(seconds: float) -> None:
        waits.append(seconds)
        settings.TPFGO_HANDOFF_SEND = ""  # the worker's part, while the line waits: the chain runs to its end
        consuming.consume(*SENT[0])
        backlog.forget()

    monkeypatch.setattr(ingest.time, "sleep", worker_drains_meanwhile)
    answers = post(line("bound-waited"), token)

    assert waits == [2.0]  # one Retry-After (TPFGO_BACKLOG_CHECK_SECONDS), then the line went in
    assert answers[0]["idempotencyKey"] == "bound-waited" and answers[0]["state"] == "COMPLETED"
    assert OrderRequest.objects.count() == 2 and QueuedHandoff.objects.count() == 0


def test_past_its_wait_budget_a_line_is_resource_exhausted_and_stores_nothing(settings, token, monkeypatch):
    settings.TPFGO_INGEST_BACKLOG_WAIT_SECONDS = 5
    waits: list[float] = []
    monkeypatch.setattr(ingest.time, "sleep", waits.append)  # the queue never drains
    rows = all_insert_only_counts()

    answers = post(ndjson([line("bound-late")]), token)

    assert waits == [2.0, 2.0]  # 4 s of the 5 s budget; a third wait would pass it
    assert answers[0]["error"]["code"] == "RESOURCE_EXHAUSTED"
    assert "queue of pipeline 'consumer-validation'" in answers[0]["error"]["message"]
    assert all_insert_only_counts() == rows
