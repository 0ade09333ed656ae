"""The queue-mode bench end to end with tiny counts (``python -m bench queue`` runs the real sizes).

Real processes: a Redis of the test's own on a free port, a gunicorn web node, Celery worker nodes, on the
PostgreSQL test database. The figures are printed (``pytest -s``), never asserted; what is asserted is what the
bench's figures rest on: every answer is counted, every accepted order reaches its terminal state, and under
overload the queue backlog bound answers 429 while nothing refused is stored and nothing accepted is lost.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import connection

from access.tokens import ensure_token
from bench.cluster import RedisNode
from bench.queue_mode import Bench, parser
from checkout import demo

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def bench(tmp_path: Path):  # type: ignore[no-untyped-def]
    if connection.vendor != "postgresql":
        pytest.skip("the queue-mode bench runs on PostgreSQL (several processes write at once)")
    s = connection.settings_dict
    url = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    args = parser().parse_args(["--orders", "12", "--clients", "3", "--web-workers", "1", "--web-threads", "4",
                                "--concurrency", "1", "--overload-seconds", "3", "--overload-bound", "1"])  # fmt: skip
    demo.load()  # the test database is the nodes' database: prepared here, in the test's process
    token = ensure_token(kind="ops", name="bench").key
    with RedisNode(tmp_path) as redis:
        made = Bench(args, url, redis, tmp_path, token=token)
        yield made
        made.db.conn.close()


def test_the_bench_counts_every_order_completes_every_accepted_one_and_its_overload_meets_the_queue_bound(bench):
    sync = bench.throughput("sync", 1)
    queued = bench.throughput("queue", 2)
    print(json.dumps([sync, queued], indent=1))
    for figures in (sync, queued):
        assert figures["orders"] == 12 and figures["statuses"] == {"201": 12}
        assert figures["outcomes"] == {"COMPLETED": 12} and figures["open_left"] == 0
    assert bench.db.handoffs() == 0  # every queued hand-off was consumed

    over = bench.overload("queue", 1, rate=40.0)
    print(json.dumps({k: v for k, v in over.items() if k != "samples"}, indent=1))
    statuses = over["statuses"]
    assert set(statuses) <= {"201", "429"} and sum(statuses.values()) == over["orders"]
    assert over["orders"] + over["unsent"] == 120  # 40/s for 3 s
    assert statuses.get("429", 0) > 0  # the bound held the intake back
    assert over["accepted"] == statuses.get("201", 0) > 0
    assert over["lost"] == 0 and over["open_left"] == 0
    assert over["outcomes"] == {"COMPLETED": over["accepted"]}
    assert over["refused_but_stored"] == 0
    assert over["samples"] and all(s["web"] > 0 and s["worker"] > 0 for s in over["samples"])
