"""Beat's clock-driven tasks on their own queue: a real worker on Redis sweeps while the default queue has a backlog."""

from __future__ import annotations

import json
import uuid

import pytest

from pipelines import tasks
from pipelines.models import SweepTick
from tests.integration.conftest import wait_for
from tpfgo_site.celery import app

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BACKLOG = 600  # resumes of traces that do not exist: one query each, a few seconds for the worker's two processes
SUCCEEDED = '"logger": "celery.app.trace"'  # the worker's line for each task that succeeded, in order


def test_the_timers_tasks_are_routed_to_their_own_queue_the_others_to_the_default():
    router = app.amqp.router
    routed = {name: router.route({}, name)["queue"].name for name in app.tasks if name.startswith("pipelines.")}
    timers = {name for name, queue in routed.items() if queue == "tpfgo-timers"}
    assert timers == {"pipelines.sweep", "pipelines.expire_waits", "pipelines.release_due"}
    assert {routed[name] for name in routed.keys() - timers} == {"celery"}


def test_a_sweep_runs_while_the_default_queue_still_holds_a_backlog(broker, start_worker):
    for n in range(BACKLOG):  # queued before any worker runs: on the same queue, a sweep would come after all of them
        tasks.resume_trace.apply_async((str(uuid.uuid4()), n))
    assert broker.llen("celery") == BACKLOG

    worker = start_worker()  # beat (embedded) asks for a sweep every quarter second from its start

    def succeeded() -> list[str]:
        return [json.loads(line)["data"]["name"] for line in worker.output().splitlines() if SUCCEEDED in line]

    wait_for(lambda: succeeded().count("pipelines.resume_trace") == BACKLOG, 120, what="the backlog", worker=worker)
    assert SweepTick.objects.exists()
    done = succeeded()
    first_sweep = done.index("pipelines.sweep")
    assert done[:first_sweep].count("pipelines.resume_trace") < BACKLOG // 2, (
        f"the first sweep ran after {first_sweep} of the {BACKLOG} resumes queued before it"
    )
    assert done.count("pipelines.resume_trace") == BACKLOG
