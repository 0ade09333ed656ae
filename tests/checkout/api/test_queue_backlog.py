"""Queue mode on every transport: an order whose next pipeline waits in its queue shows it in progress, and while
that queue holds its bound a new order is RESOURCE_EXHAUSTED (429 with Retry-After; gRPC with RetryInfo), nothing
stored, on REST, gRPC, FUNCTION and protobuf-over-HTTP alike.

No worker runs here: the hand-off messages are captured at the process edge (``TPFGO_HANDOFF_SEND``), so the
first order's hand-off stays pending; ``tests/integration/test_queue_worker.py`` runs real workers.
"""

from __future__ import annotations

from typing import Any

import pytest

from checkout import demo
from pipelines.engine import consuming
from pipelines.models import QueuedHandoff
from pipelines.recovery import backlog
from tests.checkout.conftest import order_body
from tests.conftest import all_insert_only_counts

NAMES = ("rest", "grpc", "function", "protobuf")
SENT: list[tuple[str, ...]] = []


def capture(*message: str) -> None:
    SENT.append(message)


@pytest.fixture
def queued(settings, transports: dict[str, Any]) -> dict[str, Any]:
    demo.load()
    SENT.clear()
    settings.TPFGO_PUBLICATION_MODES = "*=queue"
    settings.TPFGO_HANDOFF_SEND = "tests.checkout.api.test_queue_backlog.capture"
    settings.TPFGO_QUEUE_BACKLOG_BOUND = 1
    settings.TPFGO_BACKLOG_CHECK_SECONDS = 3
    yield transports


def test_a_queued_pipeline_shows_in_progress_and_its_full_queue_refuses_new_orders_everywhere(settings, queued):
    first = queued["rest"].create(order_body(), "queued-first")
    assert first.code == "OK" and first.order["state"] == "APPROVAL_PENDING"
    assert first.order["inProgress"] == ["consumer-validation"]
    assert [m[0] for m in SENT] == ["consumer-validation"] and QueuedHandoff.objects.count() == 1
    order_id = first.order["orderId"]
    for name in NAMES:
        view = queued[name].get(order_id)
        assert (view.code, view.order["inProgress"]) == ("OK", ["consumer-validation"]), name

    backlog.forget()  # as after the check period
    rows = all_insert_only_counts()
    for name in NAMES:
        refused = queued[name].create(order_body(), f"queued-refused-{name}")
        assert refused.code == "RESOURCE_EXHAUSTED", (name, refused)
        assert "queue of pipeline 'consumer-validation' (tpfgo.consumer-validation)" in refused.data["message"]
        if name == "grpc":
            assert refused.grpc == "RESOURCE_EXHAUSTED"
        else:
            assert (refused.http, refused.headers.get("Retry-After")) == (429, "3"), name
    assert all_insert_only_counts() == rows
    replay = queued["grpc"].create(order_body(), "queued-first")  # a stored order is still answered
    assert (replay.code, replay.replayed) == ("OK", True)

    consuming.consume(*SENT[0])  # the worker's part: its pipeline ran, the next one is queued
    assert queued["rest"].get(order_id).order["inProgress"] == ["restaurant-acceptance"]
    settings.TPFGO_HANDOFF_SEND = ""  # no broker: every later hand-off is consumed where it is made
    consuming.consume(*SENT[1])
    assert queued["grpc"].get(order_id).order["state"] == "COMPLETED" and QueuedHandoff.objects.count() == 0
    backlog.forget()
    after = queued["protobuf"].create(order_body(), "queued-after")
    assert (after.code, after.order["state"], after.order["inProgress"]) == ("OK", "COMPLETED", [])
