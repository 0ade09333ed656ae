"""Behind a backlog, the sweeper's copies of lost work in a real Redis queue grow on a doubling interval, and stop
while the queue is deep; each production broker tells the queue's depth."""

from __future__ import annotations

import datetime
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings as django_settings
from django.utils import timezone
from kombu import Queue

from bench.ingest_harness import free_port
from pipelines.engine import queues
from pipelines.models import RetryScheduled, SweepDispatch
from pipelines.recovery import resends, sweeper
from tests.checkout.conftest import place
from tests.integration.test_brokers import rabbitmq_vhost, redis_db  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def queued(broker) -> Counter[str]:
    """The tasks waiting in the default queue, by name (kombu's Redis messages carry it in their headers)."""
    return Counter(json.loads(raw)["headers"]["task"] for raw in broker.lrange("celery", 0, -1))


def test_ten_minutes_of_sweeps_without_a_worker_queue_five_copies_of_lost_work_not_fifty_five(
    demo_data, broker, settings
):
    settings.TPFGO_RESUME_ENQUEUE = "pipelines.tasks.enqueue_resume"
    settings.TPFGO_SWEEP_GRACE_SECONDS = 60
    settings.TPFGO_SWEEP_WINDOW_SECONDS = 3600
    settings.TPFGO_SWEEP_RESEND_SECONDS = 30
    settings.TPFGO_SWEEP_RESEND_MAX_SECONDS = 240
    place(paymentToken="tok_flaky_1")
    assert queued(broker) == Counter({"pipelines.retry_parked": 1})  # enqueued on commit
    broker.delete("celery")  # lost with a restarted Redis; no worker consumes what follows either
    (scheduled,) = RetryScheduled.objects.all()
    start = max(timezone.now(), scheduled.due_at)

    for seconds in range(0, 601, 10):  # a sweep every 10 s for ten minutes, the queue never drained
        sweeper.sweep(now=start + datetime.timedelta(seconds=seconds))

    # Overdue past the grace period at 60 s, then sent again after 30, 60, 120 and 240 s (the longest interval).
    # The order's trace stands still before the parked step too: the sweep settles that position (the parked item
    # owns it) and sends no resume.
    assert queued(broker) == Counter({"pipelines.retry_parked": 5})
    sends = SweepDispatch.objects.filter(kind="retry").order_by("send")
    assert [round((s.created_at - start).total_seconds()) for s in sends] == [60, 90, 150, 270, 510]
    assert not SweepDispatch.objects.filter(kind="resume").exists()


@pytest.mark.parametrize("bound", [0, 1])
def test_while_the_queue_holds_the_attempts_own_message_the_sweeper_adds_no_copy(demo_data, broker, settings, bound):
    settings.TPFGO_RESUME_ENQUEUE = "pipelines.tasks.enqueue_resume"
    settings.TPFGO_SWEEP_GRACE_SECONDS = 60
    settings.TPFGO_SWEEP_WINDOW_SECONDS = 3600
    settings.TPFGO_SWEEP_RESEND_SECONDS = 30
    settings.TPFGO_SWEEP_RESEND_MAX_SECONDS = 240
    settings.TPFGO_SWEEP_RESEND_HOLD_DEPTH = bound
    place(paymentToken="tok_flaky_1")
    (scheduled,) = RetryScheduled.objects.all()
    start = max(timezone.now(), scheduled.due_at)

    for seconds in range(0, 601, 10):  # no worker: the attempt's own message waits in the queue all along
        sweeper.sweep(now=start + datetime.timedelta(seconds=seconds))

    if bound == 0:  # never held: a copy per interval, as in the test above, beside the waiting message
        assert queued(broker) == Counter({"pipelines.retry_parked": 1 + 5})
        return
    # Every copy is held: the attempt's own message may be among those waiting.
    assert queued(broker) == Counter({"pipelines.retry_parked": 1})
    assert list(SweepDispatch.objects.values_list("kind", "send")) == []

    broker.delete("celery")  # the queue drained (here the messages were lost): the next sweep sends the retry again
    report = sweeper.sweep(now=start + datetime.timedelta(seconds=610))
    assert (len(report.reenqueued), len(report.resumes), report.held) == (1, 0, [])
    assert queued(broker) == Counter({"pipelines.retry_parked": 1})


def celery_app(url: str, tmp_path: Path) -> Celery:
    """A Celery app on ``url`` with the project's queues and routes (the production broker settings' shape)."""
    app = Celery("depth-test", set_as_current=False)
    app.conf.broker_url = url
    app.conf.task_routes = django_settings.CELERY_TASK_ROUTES
    if queues.amqp(url):
        app.conf.broker_transport_options = {"confirm_publish": True}
        app.conf.task_queues = [Queue("celery", routing_key="celery", queue_arguments={"x-queue-type": "quorum"})]
    elif url == "filesystem://":
        folder = str(tmp_path / "queue")
        app.conf.broker_transport_options = {"data_folder_in": folder, "data_folder_out": folder}
        (tmp_path / "queue").mkdir()
    return app


@pytest.fixture(params=["redis", "rabbitmq", "filesystem"])
def broker_app(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Celery]:
    url = "filesystem://" if request.param == "filesystem" else request.getfixturevalue(f"{request.param}_db")
    monkeypatch.setenv("CELERY_BROKER_URL", url)  # Celery takes the environment's broker before the app's setting
    app = celery_app(url, tmp_path)
    yield app
    app.close()


@pytest.fixture
def rabbitmq_db(rabbitmq_vhost: str) -> str:  # noqa: F811
    return rabbitmq_vhost


def test_each_broker_tells_how_many_messages_wait_in_the_queue_a_task_goes_to(broker_app):
    assert resends.queue_depth("pipelines.resume_trace", broker_app) == ("celery", 0)  # no such queue yet: empty
    for seq in range(3):
        broker_app.send_task("pipelines.resume_trace", args=(str(uuid.uuid4()), seq))
    deadline = time.monotonic() + 10  # RabbitMQ counts a confirmed message as ready a moment later
    while resends.queue_depth("pipelines.resume_trace", broker_app)[1] != 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert resends.queue_depth("pipelines.resume_trace", broker_app) == ("celery", 3)
    assert resends.queue_depth("pipelines.retry_parked", broker_app) == ("celery", 3)  # the same default queue
    assert resends.queue_depth("pipelines.sweep", broker_app) == ("tpfgo-timers", 0)  # routed to the timers' queue


def test_a_broker_that_does_not_answer_has_no_depth(tmp_path, monkeypatch):
    url = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setenv("CELERY_BROKER_URL", url)
    app = celery_app(url, tmp_path)
    assert resends.queue_depth("pipelines.resume_trace", app) == ("celery", None)
