"""A real Prometheus scrapes the app's ``/metrics`` route (pytest-django's live server, the test's database) while a
queued pipeline's hand-offs wait: it reads each queued pipeline's pending count and the oldest one's age."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.engine import consuming
from pipelines.engine.runner import Engine
from pipelines.models import QueuedHandoff
from tests.lane import composition as lane
from tests.pipelines.test_queue_mode import SENT
from tests.run.conftest import wait_until
from tests.run.prometheus_server import Prometheus, require, serving

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PENDING = 'tpfgo_queue_handoffs_pending{job="tpfgo"}'
OLDEST = 'tpfgo_queue_handoff_oldest_seconds{job="tpfgo"}'


@pytest.fixture
def queued(settings: Any, lane_composition: Any) -> Iterator[None]:
    require()
    SENT.clear()
    settings.TPFGO_PUBLICATION_MODES = "lane.indexed.v1=queue"
    settings.TPFGO_HANDOFF_SEND = "tests.pipelines.test_queue_mode.capture"  # into its SENT
    yield


@pytest.fixture
def prometheus(queued: None, live_server: Any, tmp_path: Path) -> Iterator[Prometheus]:
    target = live_server.url.removeprefix("http://")
    with serving(
        tmp_path, f"  - job_name: tpfgo\n    static_configs:\n      - targets: ['{target}']\n", "tpfgo"
    ) as api:
        yield api


def test_prometheus_reads_a_queued_pipelines_pending_hand_offs_and_the_oldest_ones_age(prometheus: Prometheus):
    assert prometheus.values(PENDING) == {(("pipeline", "publish"),): 0.0}  # queue mode on, nothing published
    assert prometheus.values(OLDEST) == {}

    engine = Engine(lane.COMPOSITION)
    engine.start("ingest", {"text": "a b"}, "doc-1")
    engine.start("ingest", {"text": "c d"}, "doc-2")
    assert QueuedHandoff.objects.count() == 2 and len(SENT) == 2  # the messages went to the process edge
    prometheus.next_scrape()
    assert prometheus.values(PENDING) == {(("pipeline", "publish"),): 2.0}
    waited = prometheus.values(OLDEST)[(("pipeline", "publish"),)]
    wait_until(
        "the oldest hand-off's age did not grow",
        lambda: prometheus.values(OLDEST)[(("pipeline", "publish"),)] > waited,
        30,
    )

    for message in SENT:  # a worker consumes both
        assert consuming.consume(*message) == "inserted"
    prometheus.next_scrape()
    assert prometheus.values(PENDING) == {(("pipeline", "publish"),): 0.0}
    assert prometheus.values(OLDEST) == {}
