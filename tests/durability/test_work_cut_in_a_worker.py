"""A worker's task cut in the middle, by a database outage or by the death of its process: the work goes on once
the database is back, or at once, not a claim timeout later (``pipelines.tasks``).

The test starts its own PostgreSQL (``initdb`` + ``pg_ctl`` on a free port) and its own Redis, and a real worker
with beat embedded. The gateway simulator cuts the worker's task right after it answered a call: it stops the
database (``pg_ctl stop -m immediate``), so the task's next write meets a dead server, and the test starts the
database again a few seconds later; or it SIGKILLs the worker's pool process that runs the task. Cut by an outage:

- a retry attempt: an order whose first authorization failed (``tok_flaky_1``) is parked, and the worker runs its
  second attempt;
- a resume: an order whose placing process died right after ``consumer_verified`` (``TPFGO_CRASH_AFTER``) is found
  by the worker's sweeper and resumed;
- a queued hand-off: every publication in queue mode, and the worker's hand-off to ``payment-capture`` (its one
  step asks the gateway for the capture) cut before anything of it committed. The sweeper leaves such a position to
  the pending hand-off and sends it again only after ``TPFGO_QUEUE_RESEND_SECONDS`` (10 minutes).

Cut by the process's death: the same retry attempt and the same resume, before anything of them committed (the
worker's main process publishes the task again; a hand-off has no claim, and its message came back before too).

Cut by the whole worker's death (its process group SIGKILLed, main process and beat with it, as when its host dies):
the same attempt and resume. Redis keeps the dead worker's unacknowledged message for the visibility timeout (an
hour), so only the sweeper of a second worker can take the work up: it sees the claim's lock free
(``pipelines.store.claim_locks``) and schedules the next attempt, or resumes again, within
``TPFGO_SWEEP_ORPHAN_SECONDS`` (2 here) instead of the 15-minute claim timeout.

Each order must complete with exactly one row of each fact, under the claim the cut task made (no second attempt,
no second resume: the sweeper's claim timeout is 15 minutes, and a pending hand-off is sent again after 10, far
beyond the test's wait), and the gateway must have been asked for the authorization exactly twice (before the cut
and after it; the capture, for the hand-off), with the same parameters.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings

from checkout import services
from pipelines.models import ParkedItem, ParkingOutcome, Resumption, RetryClaim
from tests.checkout.conftest import order_body
from tests.durability.test_crash_at_the_boundary import Cluster, facts, gateway_calls, migrated_cluster
from tests.integration.conftest import Worker, wait_for
from tests.integration.test_celery_retries import HAPPY
from tests.integration.test_crash_recovery import PLACE
from tests.scaleout.cluster import RedisBroker

pytestmark = pytest.mark.integration

DOWN_SECONDS = 3.0  # the task is run again at 1 s and 3 s after the cut: at least one meets the stopped server


@dataclass
class Site:
    cluster: Cluster
    env: dict[str, str]
    dsn: str
    gateway_log: Path
    crash_file: Path
    log: Path
    worker: Worker | None = None

    def start_worker(self, **env: str) -> Worker:
        self.env.update(env)  # the placing processes publish as the worker consumes (the test's own copy)
        self.worker = Worker(self.log, self.env)
        return self.worker

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn) as conn:
            return conn.execute(sql, params).fetchall()

    def facts(self, order: str) -> Counter[str]:
        return facts(self)[order]

    def asked(self, op: str, order: str) -> list[dict[str, str]]:
        """The gateway's calls ``op`` (``authorize``, ``capture``) for ``order``: their parameters, in order."""
        return [c["params"] for c in gateway_calls(self) if c["op"] == op and c["order"] == order]

    def cut_and_restart(self) -> None:
        """Wait for the gateway to stop the database inside the worker's task, then start it again."""
        wait_for(lambda: not self.crash_file.exists(), 60, what="the gateway to stop the database", worker=self.worker)
        self.cluster.wait_stopped()
        time.sleep(DOWN_SECONDS)
        self.cluster.start()

    def completed(self, order: str) -> bool:
        try:
            return self.facts(order)["TerminalOrderState"] == 1
        except psycopg.OperationalError:
            return False

    def asked_twice_alike(self, op: str, order: str) -> bool:
        """The gateway was asked ``op`` twice for ``order`` (before the cut and after it), with the same request."""
        asked = self.asked(op, order)
        return len(asked) == 2 and asked[0] == asked[1]

    def retried(self, order: str) -> tuple[list[int], list[tuple[str, int]]]:
        """The attempts claimed on the order's one parked item, and the item's outcomes (outcome, attempts)."""
        parked = self.rows(f"SELECT id FROM {ParkedItem._meta.db_table} WHERE trace_id = %s", order)
        assert len(parked) == 1
        claims = self.rows(f"SELECT attempt FROM {RetryClaim._meta.db_table} WHERE parked_id = %s", parked[0][0])
        outcomes = self.rows(
            f"SELECT outcome, attempts FROM {ParkingOutcome._meta.db_table} WHERE parked_id = %s", parked[0][0]
        )
        return sorted(attempt for (attempt,) in claims), outcomes

    def resumptions(self, order: str) -> list[tuple[int, str]]:
        """The order's resumes: (attempt, decision), by position and attempt."""
        table = Resumption._meta.db_table
        return self.rows(f"SELECT attempt, decision FROM {table} WHERE trace_id = %s ORDER BY seq, attempt", order)


@pytest.fixture(scope="module")
def shared_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The database and the broker, set up once for the module's tests (each places its own order)."""
    home = tmp_path_factory.mktemp("outage")
    redis = RedisBroker(home)
    worker_env = {
        "DJANGO_SETTINGS_MODULE": "tpfgo_site.settings",
        "CELERY_BROKER_URL": redis.url,
        "TPFGO_RETRY_BASE_DELAY": "0.2",
        "TPFGO_SWEEP_SECONDS": "1",
        "TPFGO_SWEEP_CLAIM_TIMEOUT_SECONDS": "900",
    }
    try:
        redis.start()  # inside: a Redis that never answers is stopped too
        with migrated_cluster(home, "tpfgo_outage", **worker_env) as (cluster, env):
            dsn, gateway, crash = cluster.url("tpfgo_outage"), home / "gateway.jsonl", home / "crash"
            yield Site(cluster, env, dsn, gateway, crash, home / "worker.log")
    finally:
        redis.stop()


@pytest.fixture
def site(shared_site: Site, tmp_path: Path) -> Iterator[Site]:
    """The shared site with this test's own environment and worker, stopped after the test."""
    site = dataclasses.replace(shared_site, env=dict(shared_site.env), log=tmp_path / "worker.log")
    try:
        yield site
    finally:
        if site.worker is not None:
            site.worker.stop()
        site.crash_file.unlink(missing_ok=True)
        if not (site.cluster.data / "pg" / "postmaster.pid").exists():  # a test that failed mid-cut
            site.cluster.start()


def _cut(worker: Worker) -> list[tuple[str, int]]:
    """The tasks the worker ran again through the outage, and which run each was (``task.database_unavailable``)."""
    lines = (json.loads(line) for line in worker.output().splitlines() if '"task.database_unavailable"' in line)
    return [(line["task"], line["retries"]) for line in lines]


def _place_parked(site: Site, key: str, crash: str) -> None:
    """Place an order whose first authorization fails (``tok_flaky_1``), with the gateway's crash ``crash`` armed:
    it fires in the worker's second attempt (the first authorization fails before the gateway answers).

    Where the crash stops the database, the test starts its worker only after this returns: a worker already running
    takes the retry 0.2 s after the park, and on a loaded machine its cut can stop the database while the placing
    process still reads its answer (which then fails, as any client's read would)."""
    site.crash_file.write_text(crash)
    placed = _place(site, key, token="tok_flaky_1")
    assert placed.returncode == 0, placed.stderr[-2000:]


def _place_dying(site: Site, key: str) -> None:
    """Place an order whose placing process dies right after ``consumer_verified``: the sweeper resumes it."""
    died = _place(site, key, TPFGO_CRASH_AFTER="consumer_verified")
    assert died.returncode == -9, died.stderr[-2000:]


def _place(site: Site, key: str, **env: str) -> subprocess.CompletedProcess[str]:
    body = json.dumps(order_body(paymentToken=env.pop("token", "tok_ok")))
    return subprocess.run(
        [sys.executable, "-c", PLACE, body, key],
        env={**site.env, **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_retry_attempt_cut_by_a_database_outage_goes_on_under_its_own_claim(site: Site) -> None:
    order = str(services.order_id_for("outage-retry"))
    _place_parked(site, "outage-retry", "pg authorize")
    worker = site.start_worker()  # after the placing process: see _place_parked

    site.cut_and_restart()
    wait_for(lambda: site.completed(order), 60, what="the retried order to complete", worker=worker)

    assert site.facts(order) == HAPPY
    assert site.retried(order) == ([2], [("resolved", 2)])  # the run again went on with the claim; no third attempt
    assert site.asked_twice_alike("authorize", order)
    assert _cut(worker)[0] == ("pipelines.retry_parked", 0)


def test_a_resume_cut_by_a_database_outage_goes_on_under_its_own_claim(site: Site) -> None:
    worker = site.start_worker()
    order = str(services.order_id_for("outage-resume"))
    site.crash_file.write_text("pg authorize")  # the placing process dies before the gateway; the resume asks it
    _place_dying(site, "outage-resume")

    site.cut_and_restart()
    wait_for(lambda: site.completed(order), 60, what="the resumed order to complete", worker=worker)

    assert site.facts(order) == HAPPY
    assert site.resumptions(order) == [(1, "resumed")]  # run again under its claim; the sweeper never took it over
    assert site.asked_twice_alike("authorize", order)
    assert _cut(worker)[0] == ("pipelines.resume_trace", 0)


def test_a_queued_hand_off_cut_by_a_database_outage_is_run_again(site: Site) -> None:
    order = str(services.order_id_for("outage-handoff"))
    # payment-capture's one step asks the gateway: the cut comes before anything of the hand-off committed, so the
    # trace rests on the publication's row, whose hand-off is pending.
    site.crash_file.write_text("pg capture")
    placed = _place(site, "outage-handoff", TPFGO_PUBLICATION_MODES="*=queue")
    assert placed.returncode == 0, placed.stderr[-2000:]
    worker = site.start_worker(TPFGO_PUBLICATION_MODES="*=queue")  # after the placing process, as above

    site.cut_and_restart()
    wait_for(lambda: site.completed(order), 60, what="the queued order to complete", worker=worker)

    assert site.facts(order) == HAPPY
    assert site.rows(f"SELECT count(*) FROM {ParkedItem._meta.db_table} WHERE trace_id = %s", order) == [(0,)]
    # While the hand-off waited for the database, the sweeper saw its position stalled and left it to the pending
    # hand-off ("settled: queued"); it sends a pending hand-off again only after TPFGO_QUEUE_RESEND_SECONDS (600).
    settled = site.rows(
        f"SELECT detail FROM {Resumption._meta.db_table} WHERE trace_id = %s AND decision = 'skipped'", order
    )
    assert {detail for (detail,) in settled} <= {"settled: queued"}
    assert len(site.asked("authorize", order)) == 1
    assert site.asked_twice_alike("capture", order)
    assert _cut(worker)[0] == ("pipelines.hand_off", 0)


def _killed(worker: Worker) -> tuple[int, int]:
    """How many of the worker's pool processes died of a SIGKILL, and how many tasks the worker's main process
    published again for it (Celery logs both)."""
    out = worker.output()
    return out.count("exited with 'signal 9 (SIGKILL)'"), out.count("Retry in 0s: WorkerLostError")


def test_a_retry_attempt_whose_process_dies_goes_on_under_its_own_claim(site: Site) -> None:
    worker = site.start_worker()
    order = str(services.order_id_for("killed-retry"))
    _place_parked(site, "killed-retry", "kill authorize")

    wait_for(lambda: site.completed(order), 60, what="the retried order to complete", worker=worker)

    assert site.facts(order) == HAPPY
    assert site.retried(order) == ([2], [("resolved", 2)])  # the run again went on with the claim
    assert site.asked_twice_alike("authorize", order)  # before the death and after it
    assert _killed(worker) == (1, 1) and _cut(worker) == []


def test_a_resume_whose_process_dies_goes_on_under_its_own_claim(site: Site) -> None:
    worker = site.start_worker()
    order = str(services.order_id_for("killed-resume"))
    site.crash_file.write_text("kill authorize")  # the placing process dies before the gateway; the resume asks it
    _place_dying(site, "killed-resume")

    wait_for(lambda: site.completed(order), 60, what="the resumed order to complete", worker=worker)

    assert site.facts(order) == HAPPY
    assert site.resumptions(order) == [(1, "resumed")]  # run again under its claim; the sweeper never took it over
    assert site.asked_twice_alike("authorize", order)
    assert _killed(worker) == (1, 1) and _cut(worker) == []


def _worker_died(site: Site, worker: Worker) -> None:
    """Wait for the gateway to SIGKILL the worker's whole process group, then start a second worker."""
    wait_for(lambda: worker.process.poll() is not None, 60, what="the worker to die", worker=worker)
    assert worker.process.returncode == -9
    site.start_worker(TPFGO_SWEEP_ORPHAN_SECONDS="2")


def test_a_retry_attempt_whose_worker_dies_whole_is_taken_up_by_another_worker_at_once(site: Site) -> None:
    first = site.start_worker()
    order = str(services.order_id_for("dead-worker-retry"))
    _place_parked(site, "dead-worker-retry", "killgroup authorize")

    _worker_died(site, first)
    wait_for(lambda: site.completed(order), 60, what="the retried order to complete", worker=site.worker)

    assert site.facts(order) == HAPPY
    assert site.retried(order) == ([2, 3], [("resolved", 3)])  # the lost attempt counts; 3 ran on the second worker
    assert site.asked_twice_alike("authorize", order)  # attempt 2 (its answer lost with the worker) and attempt 3
    assert site.worker is not None and '"sweep.attempt_lost"' in site.worker.output()


def test_a_resume_whose_worker_dies_whole_is_taken_up_by_another_worker_at_once(site: Site) -> None:
    first = site.start_worker()
    order = str(services.order_id_for("dead-worker-resume"))
    site.crash_file.write_text("killgroup authorize")
    _place_dying(site, "dead-worker-resume")

    _worker_died(site, first)
    wait_for(lambda: site.completed(order), 60, what="the resumed order to complete", worker=site.worker)

    assert site.facts(order) == HAPPY
    assert site.resumptions(order) == [(1, "resumed"), (2, "resumed")]  # the dead worker's, and the second's
    assert site.asked_twice_alike("authorize", order)
    assert site.worker is not None and '"sweep.resume_lost"' in site.worker.output()
