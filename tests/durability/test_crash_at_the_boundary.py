"""Durable at the boundary survives crashes: no answered order and no gateway call is lost or repeated.

The test starts its own PostgreSQL (``initdb`` + ``pg_ctl`` on a free port; never the shared one) and serves it with
gunicorn under ``TPFGO_DURABILITY=boundary``, the gateway simulator recording every call it answers
(``tests/durability/gateway.py``). It places orders one at a time over REST and crashes in between, in a seeded
random order: an immediate stop of the database (``pg_ctl stop -m immediate``, or its SIGQUIT to the postmaster at
a random moment of a request), right after an answer or right after a gateway call; a SIGKILL of the web process
at a random moment or right after a gateway call. The database's WAL writer is slowed to 10 s, so a commit that
was not flushed is lost by the stop, as it would be by a power cut.

Right after each restart, before any recovery, the database must hold every fact of every answered order (its
terminal state) and the input of every gateway call (``ConsumerVerified`` before an authorization,
``OrderDelivered`` before a capture). After the sweeper resumed what the crashes interrupted, every stored order is
completed with exactly one row of each fact, and the gateway saw each order's authorization and capture once,
except for the order in flight at a crash, whose repeated call carries the same idempotency key and parameters.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psycopg
import pytest
from django.conf import settings

from checkout import services
from pipelines.models import CheckpointLog
from tests.checkout.api.test_database_outage import BIN, PG_BIN, Postgres, answers, free_port
from tests.checkout.conftest import order_body
from tests.integration.test_celery_retries import HAPPY

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("TPFGO_CRASH_SEED", "26"))
# Each crash once or twice, shuffled; one to three orders placed before each.
CRASHES = [
    "pg-after-answer",
    "pg-after-answer",
    "pg-after-authorize",
    "pg-after-capture",
    "pg-at-random",
    "pg-at-random",
    "pg-at-random",
    "web-at-random",
    "web-at-random",
    "web-after-authorize",
    "web-after-capture",
]
TIMEOUT = 120.0  # a shared CI machine under load migrates, boots gunicorn and recovers PostgreSQL slowly


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=3 * TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Cluster(Postgres):
    """The test's PostgreSQL: the WAL writer flushes asynchronous commits only every 10 s."""

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c wal_writer_delay=10000 -c wal_writer_flush_after=1GB"
        )
        self._run("pg_ctl", "-D", str(self.data / "pg"), "-l", str(self.data / "pg.log"), "-o", options, "-w", "start")

    def stop_command(self) -> list[str]:
        command = [str(PG_BIN / "pg_ctl"), "-D", str(self.data / "pg"), "-m", "immediate", "-w", "stop"]
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    def crash(self) -> None:
        subprocess.run(self.stop_command(), check=True, capture_output=True, timeout=TIMEOUT)

    def quit_now(self) -> None:
        """What ``pg_ctl stop -m immediate`` sends, without the time it takes to start."""
        pid = int((self.data / "pg" / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGQUIT)

    def wait_stopped(self) -> None:
        deadline = time.monotonic() + TIMEOUT
        while (self.data / "pg" / "postmaster.pid").exists():
            assert time.monotonic() < deadline, "PostgreSQL did not stop"
            time.sleep(0.05)


@dataclass
class Web:
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [str(BIN / "gunicorn"), "tpfgo_site.wsgi:application", "--bind", f"127.0.0.1:{self.port}"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*command, "--workers", "1", "--timeout", "60"],
                env=self.env,
                cwd=settings.BASE_DIR,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not answers(f"{self.url}/healthz"):
            assert time.monotonic() < deadline, self.log.read_text()[-3000:]
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=TIMEOUT)


@dataclass
class Run:
    cluster: Cluster
    web: Web
    token: str
    dsn: str
    gateway_log: Path
    crash_file: Path
    answered: dict[str, str] = field(default_factory=dict)  # order id -> the state answered
    in_flight: set[str] = field(default_factory=set)  # orders a crash interrupted

    def place(self, key: str) -> tuple[int | None, dict[str, Any]]:
        request = urllib.request.Request(
            f"{self.web.url}/api/v1/orders", data=json.dumps(order_body()).encode(), method="POST"
        )
        for name, value in (("Authorization", f"Token {self.token}"), ("Content-Type", "application/json")):
            request.add_header(name, value)
        request.add_header("Idempotency-Key", key)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                status, body = response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")
        except (OSError, ValueError, http.client.HTTPException):
            # The connection died with the web process: before the status line (OSError), or after it with the body
            # cut short (IncompleteRead). Either way the caller holds no answer, so the order counts as in flight.
            return None, {}
        if status == 201:
            self.answered[body["orderId"]] = body["state"]
        return status, body


@contextlib.contextmanager
def migrated_cluster(tmp_path: Path, database: str, **env: str) -> Iterator[tuple[Cluster, dict[str, str]]]:
    """A PostgreSQL of the test's own with ``database`` migrated and the demo data loaded, and the environment of
    the processes that serve it (the recording gateway simulator, its crash file, the sweeper's short grace; ``env``
    adds or overrides). The cluster is stopped and removed after the block."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL 15's server binaries are not installed ({PG_BIN})")
    data = Path(tempfile.mkdtemp(prefix="tpfgo-durable-"))  # outside pytest's root-only tmp: the postgres user's
    cluster = Cluster(data, free_port())
    cluster.init()
    cluster.start()
    try:
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {database}")
        environment = {
            **os.environ,
            "DATABASE_URL": cluster.url(database),
            "TPFGO_VAR_DIR": str(tmp_path / "var"),
            "TPFGO_PAYMENT_GATEWAY": "tests.durability.gateway.CrashingGateway",
            "TPFGO_TEST_GATEWAY_LOG": str(tmp_path / "gateway.jsonl"),
            "TPFGO_TEST_CRASH_FILE": str(tmp_path / "crash"),
            "TPFGO_TEST_PG_STOP": json.dumps(cluster.stop_command()),
            "TPFGO_SWEEP_GRACE_SECONDS": "0.5",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        manage(environment, "migrate", "--noinput")
        manage(environment, "load_demo")
        yield cluster, environment
    finally:
        try:
            cluster.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    for folder in ("queue", "processed"):
        (tmp_path / "var" / "broker" / folder).mkdir(parents=True)
    settings_env = {"DJANGO_SETTINGS_MODULE": "tests.durability.settings", "CELERY_BROKER_URL": "filesystem://"}
    with migrated_cluster(
        tmp_path, "tpfgo_durable", **settings_env, TPFGO_DURABILITY="boundary", LOG_LEVEL="WARNING"
    ) as (cluster, env):
        token = manage(
            env, "shell", "-c", "from access.tokens import create_token; print(create_token(kind='ops', name='d').key)"
        ).split()[-1]
        web = Web(env, tmp_path / "web.log")
        try:
            web.start()
            yield Run(cluster, web, token, cluster.url("tpfgo_durable"), tmp_path / "gateway.jsonl", tmp_path / "crash")
        finally:
            if web.process is not None and web.process.poll() is None:
                web.kill()


class Recorded(Protocol):
    """What a test reads back: its database and its gateway simulator's log (``Run`` here, the outage test's site)."""

    dsn: str
    gateway_log: Path


def facts(run: Recorded) -> dict[str, Counter[str]]:
    """Each order's stored facts (checkpoint type -> rows), read straight from the test's database."""
    table = CheckpointLog._meta.db_table
    out: dict[str, Counter[str]] = defaultdict(Counter)
    with psycopg.connect(run.dsn) as conn:
        for trace, kind, count in conn.execute(
            f"SELECT trace_id, checkpoint_type, count(*) FROM {table} GROUP BY 1, 2"
        ):
            out[str(trace)][kind] = count
    return out


def gateway_calls(run: Recorded) -> list[dict[str, Any]]:
    if not run.gateway_log.exists():
        return []
    return [json.loads(line) for line in run.gateway_log.read_text().splitlines()]


def assert_nothing_answered_was_lost(run: Run, when: str) -> None:
    stored = facts(run)
    for order, state in run.answered.items():
        assert state == "COMPLETED", (when, order, state)
        assert stored[order] == HAPPY, f"{when}: answered order {order} lost facts: {stored[order]}"
    needs = {"authorize": "ConsumerVerified", "capture": "OrderDelivered"}
    for call in gateway_calls(run):
        assert stored[call["order"]][needs[call["op"]]] == 1, f"{when}: {call} was made on a fact the crash lost"


def restart_database(run: Run) -> None:
    run.cluster.wait_stopped()
    run.cluster.start()
    run.web.wait_ready()


def crash(run: Run, kind: str, key: str, rng: random.Random) -> None:
    order = str(services.order_id_for(key))
    what, when = kind.split("-", 1)
    if when in ("after-authorize", "after-capture"):
        run.crash_file.write_text(f"{'pg' if what == 'pg' else 'kill'} {when.removeprefix('after-')}")
        status, _ = run.place(key)
        assert status != 201, (kind, status)  # the crash came before the answer
        assert not run.crash_file.exists(), f"{kind}: the gateway was not called"
        run.in_flight.add(order)
    elif when == "after-answer":
        assert run.place(key)[0] == 201
        run.cluster.crash()
    else:
        stop = run.cluster.quit_now if what == "pg" else run.web.kill
        timer = threading.Timer(rng.uniform(0.0, 0.03), stop)
        timer.start()
        run.place(key)
        timer.join()
        run.in_flight.add(order)
    if what == "pg":
        restart_database(run)
    elif when == "at-random":
        run.web.start()
    else:
        run.web.wait_ready()  # gunicorn's arbiter starts a new worker
    assert_nothing_answered_was_lost(run, f"after {kind} ({key})")


def sweep_until_settled(run: Run, orders: set[str]) -> dict[str, Counter[str]]:
    deadline = time.monotonic() + TIMEOUT
    while True:
        time.sleep(0.6)  # older than the sweeper's grace
        manage(run.web.env, "sweep")
        stored = facts(run)
        if all(stored[o]["TerminalOrderState"] for o in orders if stored[o]) or time.monotonic() > deadline:
            return stored


def test_no_answered_order_and_no_gateway_call_is_lost_or_repeated_across_crashes(run: Run) -> None:
    rng = random.Random(SEED)
    kinds = CRASHES[:]
    rng.shuffle(kinds)
    keys = (f"durable-{n:04d}" for n in range(10_000))
    placed = []
    for kind in kinds:
        for _ in range(rng.randint(1, 3)):
            key = next(keys)
            placed.append(key)
            assert run.place(key)[0] == 201
        key = next(keys)
        placed.append(key)
        crash(run, kind, key, rng)

    orders = {str(services.order_id_for(key)) for key in placed}
    stored = sweep_until_settled(run, orders)

    recorded = {o for o in orders if stored[o]}
    assert set(run.answered) <= recorded
    assert orders - recorded <= run.in_flight  # only an interrupted request may leave nothing behind
    for order in recorded:
        assert stored[order] == HAPPY, f"seed {SEED}: {order} {stored[order]}"
    calls = gateway_calls(run)
    made = Counter((call["op"], call["order"]) for call in calls)
    assert {order for _, order in made} == recorded  # each stored order was authorized and captured; no other
    assert {op for op, _ in made} == {"authorize", "capture"}
    for (op, order), count in made.items():
        if count > 1:  # asked again after a crash: only the interrupted order, with the same key and parameters
            assert order in run.in_flight, f"seed {SEED}: {op} repeated for {order}, which no crash interrupted"
            params = {json.dumps(c["params"], sort_keys=True) for c in calls if (c["op"], c["order"]) == (op, order)}
            assert len(params) == 1, (op, order, params)
    assert sum(1 for (op, _) in made if op == "capture") == len(recorded)
    print(
        f"seed {SEED}: {len(placed)} orders, {len(run.answered)} answered, {len(recorded)} stored, "
        f"{sum(made.values()) - len(made)} repeated calls",
        file=sys.stderr,
    )


def test_a_placing_the_database_left_partly_done_answers_unavailable_and_sent_again_is_done_once(run: Run) -> None:
    """A 503 does not mean nothing was stored: the steps before the gateway were. The client's same request, sent
    again once the database is back, answers that order, and the order completes once."""
    key = "outage-midway"
    order = str(services.order_id_for(key))
    run.crash_file.write_text("pg authorize")
    status, body = run.place(key)
    assert (status, body["error"]["code"]) == (503, "UNAVAILABLE")
    assert "partly done" in body["error"]["message"]

    restart_database(run)
    assert facts(run)[order]["ConsumerVerified"] == 1 and facts(run)[order]["PaymentAuthorized"] == 0
    status, body = run.place(key)
    assert status in (200, 201) and body["orderId"] == order

    assert sweep_until_settled(run, {order})[order] == HAPPY
    asked = [c["params"] for c in gateway_calls(run) if (c["op"], c["order"]) == ("authorize", order)]
    assert len(asked) == 2 and asked[0] == asked[1]  # before the cut, and once more: the same request
