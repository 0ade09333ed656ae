"""Migration 0020 upgrades an existing PostgreSQL database in place: the log and the lineage, with rows in them,
become partitioned by their trace's creation time, every row kept, ids going on where they stopped, still guarded.

A database of its own (the test database's name + ``_upgrade``), made and dropped here, migrated by the real
``manage.py migrate`` in a subprocess: first to 0016, then filled, then to 0020.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import connection

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="partitions exist on PostgreSQL only"),
]

ROOT = Path(__file__).resolve().parents[2]
FILL = """
INSERT INTO pipelines_trace (trace_id, created_at) VALUES
    ('11111111-1111-1111-1111-111111111111', '2025-10-31 23:59:59.5+00'),
    ('22222222-2222-2222-2222-222222222222', '2025-11-01 00:00:00+00');
INSERT INTO pipelines_checkpointlog
    (checkpoint_type, checkpoint_id, trace_id, trace_number, pipeline, step, publication, created_at)
SELECT 'Probe', md5(number || '-' || n)::uuid, trace_id, number, 'p', 's', '', created_at + n * interval '20 days'
FROM pipelines_trace, generate_series(1, 3) AS n;
INSERT INTO pipelines_lineagelink
    (child_type, child_id, parent_type, parent_id, ordinal, trace_id, trace_number)
SELECT 'Probe', md5(number || '-' || n)::uuid, 'Probe', md5(number || '-' || (n - 1))::uuid, 0, trace_id, number
FROM pipelines_trace, generate_series(2, 3) AS n;
"""
EDGE = "child_type, child_id, parent_type, parent_id, ordinal, trace_id, trace_number, trace_created_at"


@pytest.fixture
def upgrade_db() -> Iterator[str]:
    settings = connection.settings_dict
    name = f"{settings['NAME']}_upgrade"
    admin = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT'] or 5432}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(url: str, target: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the project's settings, as an operator runs it
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "pipelines", target, "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_migration_0020_partitions_a_filled_database_in_place(upgrade_db):
    migrate(upgrade_db, "0016_fork_names")
    with psycopg.connect(upgrade_db, autocommit=True) as conn:
        conn.execute(FILL)
        before = conn.execute("SELECT MAX(seq) FROM pipelines_checkpointlog").fetchone()

    migrate(upgrade_db, "0020_partitions")

    with psycopg.connect(upgrade_db, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        kinds = conn.execute(
            "SELECT relname, relkind FROM pg_class "
            "WHERE relname IN ('pipelines_checkpointlog', 'pipelines_lineagelink')"
        ).fetchall()
        assert sorted(kinds) == [("pipelines_checkpointlog", "p"), ("pipelines_lineagelink", "p")]
        for table, count in (("pipelines_checkpointlog", 6), ("pipelines_lineagelink", 4)):
            placed = conn.execute(
                f"SELECT t.number, l.tableoid::regclass::text, l.trace_created_at = t.created_at "
                f"FROM {table} l JOIN pipelines_trace t ON t.number = l.trace_number ORDER BY 1, 2"
            ).fetchall()
            assert len(placed) == count
            # One trace on each side of a month's edge: each trace's rows in its own month, whenever written.
            assert set(placed) == {(1, f"{table}_p2025_10", True), (2, f"{table}_p2025_11", True)}
        # The log's ids go on after the largest copied; the lineage's edge is still unique.
        (seq,) = conn.execute(
            "INSERT INTO pipelines_checkpointlog (checkpoint_type, checkpoint_id, trace_id, trace_number, pipeline, "
            "step, publication, created_at, trace_created_at) SELECT 'Probe', gen_random_uuid(), trace_id, number, "
            "'p', 's', '', now(), created_at FROM pipelines_trace WHERE number = 1 RETURNING seq"
        ).fetchone()
        assert seq == before[0] + 1
        again = conn.execute(
            f"INSERT INTO pipelines_lineagelink ({EDGE}) SELECT {EDGE} FROM pipelines_lineagelink "
            "ON CONFLICT DO NOTHING"
        )
        assert again.rowcount == 0
        with pytest.raises(psycopg.errors.RestrictViolation):
            conn.execute("DELETE FROM pipelines_lineagelink_p2025_10")
