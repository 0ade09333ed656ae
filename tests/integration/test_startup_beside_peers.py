"""A node starting beside live peers: its ``migrate`` runs while other processes place orders on the same
PostgreSQL database, and neither fails (issue 22: a restarted node's rebuild of ``checkout_openticket`` raced a
peer's trigger inserts and ``make run`` exited on a duplicate key).

Writers are separate processes placing orders through the engine (each order's ticket fires the trigger that
keeps ``checkout_openticket``); ``manage.py migrate`` runs as the owner role, as ``bin/run`` does.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from checkout import derived
from pipelines.store import open_parked, open_waits
from pipelines.store.schema import MIGRATE_LOCK
from tests.integration.conftest import process_env, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# Places orders until its stop file appears; prints how many.
WRITER = """
import django, itertools, os, sys
django.setup()
from checkout import services
from tests.checkout.conftest import order_body
stop, prefix = sys.argv[1], sys.argv[2]
placed = 0
for n in itertools.count():
    if os.path.exists(stop):
        break
    # A restaurant that accepts by hand: every ticket stays open, a row of checkout_openticket.
    services.place_order(order_body("chez-manuel", [{"menuItemId": "omelette", "quantity": 1}]), f"{prefix}-{n}")
    placed += 1
print(f"placed={placed}")
"""
REBUILD_SECONDS = 5
REBUILDS = 5
WIDEN = 0.3
MARKED = "tpfgo_derived_load"  # checkout.derived's marked function (its first)


def owner_env() -> dict[str, str]:
    env = process_env()
    env.pop("TPFGO_WORKER_DB_USER", None)  # migrate connects as the owner (the test database's user)
    return env


def migrate(**kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        env=owner_env(),
        cwd=settings.BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        **kwargs,  # type: ignore[call-overload]
    )


def finished(process: subprocess.Popen[bytes]) -> str:
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, out.decode()[-3000:]
    return out.decode()


class Writers:
    """Two processes placing orders (as the serving role) until stopped."""

    def __init__(self, stop: Path) -> None:
        self.stop_file = stop
        self.processes = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(stop), f"writer{n}"],
                env=process_env(),
                cwd=settings.BASE_DIR,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for n in range(2)
        ]

    def stop(self) -> int:
        """Stop both; how many orders they placed (each must have placed some and exited cleanly)."""
        self.stop_file.touch()
        placed = 0
        for process in self.processes:
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err.decode()[-3000:]
            [count] = re.findall(rb"^placed=(\d+)$", out, re.M)
            assert int(count) > 0
            placed += int(count)
        return placed


@pytest.fixture
def writers(demo_data: None, tmp_path: Path) -> Iterator[Writers]:
    running = Writers(tmp_path / "stop")
    try:
        wait_for(
            lambda: _count("ticket_created_ticketcreated") >= 10, 60, what="the writers to place their first orders"
        )
        yield running
    finally:
        running.stop_file.touch()
        for process in running.processes:
            if process.poll() is None:
                process.wait(timeout=60)


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return int(cursor.fetchone()[0])


def _marker() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT obj_description(oid, 'pg_proc') FROM pg_proc WHERE proname = %s", [MARKED])
        return cursor.fetchone()[0]


def _forget_marker() -> None:
    """As after a release whose trigger set changed: the recorded digest no longer matches."""
    with connection.cursor() as cursor:
        cursor.execute(f"COMMENT ON FUNCTION {MARKED}() IS NULL")


# What the triggers kept, and what a recount from the checkpoint tables says.
KEPT_OPEN = "SELECT order_id FROM checkout_openticket"
OPEN = """SELECT t.order_id FROM ticket_created_ticketcreated t WHERE NOT EXISTS (
    SELECT 1 FROM acceptance_decision_acceptancedecision d
    WHERE d.order_id = t.order_id AND d.decided_by <> 'REVISED')"""
KEPT_LOAD = "SELECT courier_id, active FROM checkout_courierload WHERE active <> 0"
LOAD = """SELECT courier_id, n FROM (SELECT courier_id, sum(n) AS n FROM (
    SELECT courier_id, 1 AS n FROM delivery_assigned_deliveryassigned
    UNION ALL SELECT courier_id, -1 FROM order_delivered_orderdelivered
    UNION ALL SELECT courier_id, 1 FROM courier_reassigned_courierreassigned
    UNION ALL SELECT from_courier_id, -1 FROM courier_reassigned_courierreassigned) AS m GROUP BY courier_id) AS c
    WHERE n <> 0"""


def _rows(sql: str) -> set[tuple[object, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return set(cursor.fetchall())


def assert_derived_tables_agree_with_the_facts(placed: int) -> None:
    # Every answered order is stored; its ticket may still wait (a writer's step that lost a deadlock to a rebuild's
    # table lock is parked and retried, as designed), so the derived tables are compared with the facts as stored.
    assert _count("order_request_orderrequest") >= placed
    assert _rows(KEPT_OPEN) == _rows(OPEN)
    assert _rows(KEPT_LOAD) == _rows(LOAD)


def test_migrate_beside_writers_leaves_current_derived_tables_alone(writers):
    before = _marker()
    assert before is not None and before.startswith("tpfgo rebuilt ")
    for _ in range(2):
        finished(migrate())
    assert _marker() == before  # nothing was rebuilt
    assert_derived_tables_agree_with_the_facts(writers.stop())


def test_a_stale_derived_table_is_rebuilt_beside_writers_without_a_duplicate_key(writers):
    for _ in range(2):
        _forget_marker()
        finished(migrate())
        assert _marker() is not None  # rebuilt, with writers inserting all along
    assert_derived_tables_agree_with_the_facts(writers.stop())


def test_rebuilding_again_and_again_beside_writers_never_races_their_triggers(writers):
    # The rebuild a stale marker causes, many times over while the writers' tickets fire the triggers. Before the
    # rebuild locked the tables, a ticket committed between its DELETE and its recount was a duplicate key; a
    # statement trigger that sleeps after the DELETE widens that moment from a round trip to WIDEN seconds.
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION tpfgo_test_widen() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(%s); RETURN NULL; "
            "END; $$ LANGUAGE plpgsql",
            [WIDEN],
        )
        cursor.execute(
            "CREATE TRIGGER tpfgo_test_widen AFTER DELETE ON checkout_openticket "
            "FOR EACH STATEMENT EXECUTE FUNCTION tpfgo_test_widen()"
        )
    try:
        # At least REBUILDS rebuilds, and for at least REBUILD_SECONDS: a loaded machine makes fewer per second,
        # never fewer in all.
        deadline = time.monotonic() + REBUILD_SECONDS
        rebuilds = 0
        while rebuilds < REBUILDS or time.monotonic() < deadline:
            derived.rebuild()
            open_parked.rebuild()
            open_waits.rebuild()
            rebuilds += 1
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER tpfgo_test_widen ON checkout_openticket")
            cursor.execute("DROP FUNCTION tpfgo_test_widen()")
    assert_derived_tables_agree_with_the_facts(writers.stop())


def test_a_second_migrate_waits_for_the_first_to_finish(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATE_LOCK])  # a peer node migrating
    try:
        waiting = migrate()
        wait_for(lambda: _lock_waiters() == 1, 60, what="migrate to wait for the lock")
        time.sleep(1)
        assert waiting.poll() is None
        # The runbook's query names the session to look at: the holder, not the migrate waiting for it.
        with connection.cursor() as cursor:
            cursor.execute(_runbook_query())
            listed = [row[0] for row in cursor.fetchall()]
            cursor.execute("SELECT pg_backend_pid()")
            assert listed == [cursor.fetchone()[0]]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATE_LOCK])
    assert "migrate.waiting" in finished(waiting)


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = %s",
            [MIGRATE_LOCK & 0xFFFFFFFF],
        )
        return int(cursor.fetchone()[0])


def _runbook_query() -> str:
    """The query the runbook's ``migrate.waiting`` row gives (docs/operations.md, "Several nodes")."""
    text = (Path(settings.BASE_DIR) / "docs" / "operations.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `migrate.waiting`"))
    found = re.search(r"`(SELECT pid, state, query FROM pg_stat_activity [^`]+)`", row)
    assert found is not None, row
    return found.group(1)
