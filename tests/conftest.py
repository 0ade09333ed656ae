"""Shared fixtures: the engine on the test lane, and helpers that count rows."""

from __future__ import annotations

import contextlib
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pipelines.engine import pauses, tracing
from pipelines.engine.runner import Engine
from pipelines.recovery import backlog
from tests.lane import composition as lane
from tests.xdist_times import (  # noqa: F401  (hooks: each xdist worker's tests, group and end, in the summary)
    pytest_runtest_logreport,
    pytest_sessionstart,
    pytest_terminal_summary,
    pytest_testnodedown,
)

# Tests that bring their own servers: nodes, make run, databases and brokers on free ports, never the machine's
# shared Redis or RabbitMQ (each xdist worker has its own test database). The queue-mode bench's test (a Redis of its
# own, a web node, worker nodes) is one of them; the other bench tests (databases of their own, no broker) run with
# them too, so that the two workers end together (CI on 2026-12-07: the rest ended 370 s after these).
OWN_SERVERS = ("tests/scaleout/", "tests/system/", "tests/run/", "tests/durability/", "tests/bench/")


def pytest_configure(config: pytest.Config) -> None:
    """The browser tests' assertions wait as long as their pages' actions (``page.set_default_timeout(20_000)``):
    Playwright's ``expect`` has its own default of 5 s, which a loaded CI machine exceeded once (Redoc drawing the
    API's operations)."""
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist's ``--dist loadgroup`` (CI's PostgreSQL run: ``-n 2``) the tests that bring their own
    servers (``OWN_SERVERS``: the scale-out chaos tests, ``make run``, the crash tests) run in one worker process and
    the rest of the suite in the other, each in its usual order: the rest share the machine's Redis and RabbitMQ and
    were never meant to run beside each other. Most of the first group's time is waiting for its servers to start,
    fail and settle. Without ``-n`` the marks change nothing."""
    for item in items:
        apart = item.nodeid.startswith(OWN_SERVERS)
        item.add_marker(pytest.mark.xdist_group("own-servers" if apart else "suite"))


@pytest.fixture(scope="session", autouse=True)
def _no_stray_sessions_at_teardown(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """The pool threads of the in-process gRPC servers keep their own PostgreSQL sessions open after their test;
    the test database can be dropped at the end of the run only without them."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@dataclass(frozen=True)
class PgRoles:
    """A serving and a purge role made for this test session (cluster-wide, so uniquely named; dropped after)."""

    app: str
    purge: str

    def credentials(self, role: str) -> dict[str, str]:
        from django.db import connection

        return {
            "USER": role,
            "PASSWORD": "",
            "HOST": connection.settings_dict["HOST"],
            "PORT": connection.settings_dict["PORT"],
        }


@pytest.fixture(scope="session")
def pg_roles(django_db_setup, django_db_blocker) -> Iterator[PgRoles]:  # type: ignore[no-untyped-def]
    """``setup_db_roles`` on the test database, with roles named for this session."""
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("database roles are PostgreSQL's; these tests run on PostgreSQL (CI)")
    tag = uuid.uuid4().hex[:10]
    roles = PgRoles(app=f"tpfgo_test_{tag}_app", purge=f"tpfgo_test_{tag}_purge")
    with django_db_blocker.unblock():
        call_command("setup_db_roles", app_role=roles.app, purge_role=roles.purge, stdout=io.StringIO())
    yield roles
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        quoted = f"{connection.ops.quote_name(roles.app)}, {connection.ops.quote_name(roles.purge)}"
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename IN (%s, %s)", [roles.app, roles.purge]
        )
        cursor.execute(f"DROP OWNED BY {quoted}")  # the grants and default privileges in the test database
        cursor.execute(f"DROP ROLE {quoted}")


@pytest.fixture(autouse=True)
def _fresh_process_memory() -> Iterator[None]:
    """The process keeps the active pauses and the backlog's counts in memory, read again only after their period:
    every test starts without what an earlier test's (rolled-back) rows left there, and leaves nothing there, even when
    it fails half-way."""
    pauses.invalidate()
    backlog.forget()
    yield
    pauses.invalidate()
    backlog.forget()


@pytest.fixture
def lane_engine() -> Iterator[Engine]:
    lane.FAILURES.clear()
    yield Engine(lane.COMPOSITION)
    lane.FAILURES.clear()


@pytest.fixture
def lane_composition(settings):  # type: ignore[no-untyped-def]
    settings.TPFGO_COMPOSITION = "tests.lane.composition.COMPOSITION"
    return lane.COMPOSITION


def row_counts(*labels: str) -> dict[str, int]:
    """Rows per model label (``"lane.TokenIndexed"``), for exact before/after comparisons."""
    return {label: apps.get_model(label).objects.count() for label in labels}


def all_insert_only_counts() -> dict[str, int]:
    """Rows of every insert-only table but ``SweepTick``, which a running worker's beat writes by the clock."""
    from pipelines.models import InsertOnlyModel, SweepTick

    return {
        m._meta.label: m.objects.count()
        for m in apps.get_models()
        if issubclass(m, InsertOnlyModel) and m is not SweepTick
    }


@contextlib.contextmanager
def node_clock(minutes: float) -> Iterator[None]:
    """This node's clock ``minutes`` off the database's (and the other nodes'), as its connections measure it when
    they open (``pipelines.store.clock.calibrate``); measured again once it is back."""
    import datetime

    import time_machine
    from django.utils import timezone

    from pipelines.store import clock

    try:
        with time_machine.travel(timezone.now() + datetime.timedelta(minutes=minutes), tick=False):
            clock.calibrate()
            yield
    finally:
        clock.calibrate()


def age_subscriber_leases(seconds: float) -> None:
    """Every subscriber lease taken and renewed ``seconds`` earlier: leases expire by the database's clock, which
    ``time_machine`` does not move."""
    import datetime

    from django.db.models import F

    from pipelines.models import SubscriberLease

    earlier = datetime.timedelta(seconds=seconds)
    SubscriberLease.objects.update(taken_at=F("taken_at") - earlier, expires_at=F("expires_at") - earlier)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """OpenTelemetry on for one test, exported in memory (Django instrumented, the engine's step spans)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=tracing.DerivedIds())
    provider.add_span_processor(tracing.ClassOnlyExceptions(SimpleSpanProcessor(exporter)))  # as configure's
    tracing.use(provider)
    DjangoInstrumentor().instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        DjangoInstrumentor().uninstrument()
        tracing.stop()
        provider.shutdown()


@contextlib.contextmanager
def run_still_at(kind: str, *parts: object) -> Iterator[None]:
    """A run still at a piece of work, in another session: it holds the work's lock there
    (``pipelines.store.claim_locks``). Nothing where the database has no such lock."""
    from django.db import DEFAULT_DB_ALIAS, connection, connections

    from pipelines.store import claim_locks

    if connection.vendor != "postgresql":
        yield
        return
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    lock = claim_locks.key(kind, *parts)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [lock])
        yield
        with other.cursor() as cursor:  # at once: a closed session's server process lets go a moment later
            cursor.execute("SELECT pg_advisory_unlock(%s)", [lock])
    finally:
        other.close()


@pytest.fixture
def without_claim_locks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every database as SQLite is: no lock tells whether a claim's run is still at its work."""
    from pipelines.store import claim_locks

    @contextlib.contextmanager
    def no_lock(kind: str, *parts: object) -> Iterator[None]:
        yield None

    monkeypatch.setattr(claim_locks, "working_on", no_lock)


@pytest.fixture
def claim_locks_in_force() -> None:
    """Skip where the database has no claim locks (``pipelines.store.claim_locks``: PostgreSQL advisory locks)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("claim locks are PostgreSQL advisory locks")


def claimed_attempt(engine: Engine, worker: str, attempt: int = 2) -> Any:
    """A lane item whose 'index' step failed once, parked, and ``attempt`` claimed by ``worker``, who never
    finished it (dead or still at it): the parked item."""
    from django.utils import timezone

    from pipelines.models import ParkedItem, RetryClaim

    lane.FAILURES["index"] = 1
    engine.start("ingest", {"text": "a"}, "doc-1")
    parked = ParkedItem.objects.get()
    RetryClaim.objects.create(parked=parked, attempt=attempt, worker=worker, created_at=timezone.now())
    return parked


class _Serialized:
    """A raw SQLite connection shared by threads, or one of its cursors, each of its calls made under one lock.

    The insert-only triggers call a Python function (``tpfgo_insert_guard``, ``pipelines.triggers``): an insert
    holds SQLite's connection mutex while it waits for the GIL, and a thread reading rows on the same connection
    holds the GIL while it waits for that mutex. Two threads on one connection, one inserting and one reading,
    then wait for each other for ever. Production never shares a connection between threads; the tests' servers
    share the in-memory test database's (as pytest-django's live server does), so they serialize it."""

    _CALLS = frozenset(
        {"execute", "executemany", "executescript", "commit", "rollback", "fetchone", "fetchmany", "fetchall", "close"}
    )

    def __init__(self, raw: Any, lock: Any) -> None:
        object.__setattr__(self, "_raw", raw)
        object.__setattr__(self, "_lock", lock)

    def cursor(self, *args: Any, **kwargs: Any) -> _Serialized:
        with self._lock:
            return _Serialized(self._raw.cursor(*args, **kwargs), self._lock)

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._raw, name)
        if name not in self._CALLS:
            return found

        def held(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return found(*args, **kwargs)

        return held

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._raw, name, value)

    def __iter__(self) -> _Serialized:
        return self

    def __next__(self) -> Any:
        with self._lock:
            return next(self._raw)


@contextlib.contextmanager
def sharing_in_memory_sqlite() -> Iterator[Any]:
    """Share the test's in-memory SQLite connections with a server's threads (the server's thread initializer is
    the yielded function), every call on them serialized (``_Serialized``). Nothing on PostgreSQL or a file
    database: each thread opens its own connection there."""
    import threading

    from django.db import connections

    shared = {c.alias: c for c in connections.all() if c.vendor == "sqlite" and c.is_in_memory_db()}
    for conn in shared.values():
        conn.ensure_connection()
        conn.inc_thread_sharing()
        conn.connection = _Serialized(conn.connection, threading.RLock())

    def share() -> None:
        for alias, conn in shared.items():
            connections[alias] = conn

    try:
        yield share
    finally:
        for conn in shared.values():
            if isinstance(conn.connection, _Serialized):
                conn.connection = conn.connection._raw
            conn.dec_thread_sharing()
