"""Every bench subcommand runs end to end at tiny sizes (``python -m bench queue`` and the floor have their own tests).

A bench is run as ``python -m bench …`` in its own process, from the repository, as a person would run it; it must
exit 0 and print what it measured. Its figures are printed (``pytest -s``), never asserted: what is asserted is what
they rest on (the levels asked for are the levels measured, the seeded rows are the rows counted, every answer is
``COMPLETED``): bench code that no test runs breaks unnoticed when the code it copies or calls changes. The
PostgreSQL benches create and drop databases of their own on the test database's server (none may be left behind)
and are skipped on SQLite; the others run on the test run's own database vendor.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def postgres() -> str:
    """The test database's server, as the benches' ``--pg-url`` (they create their databases there)."""
    if connection.vendor != "postgresql":
        pytest.skip("this bench runs on PostgreSQL")
    return server_url()


def server_url() -> str:
    s = connection.settings_dict
    user = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{user}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def backend_flag() -> str:
    return "postgres" if connection.vendor == "postgresql" else "sqlite"


def bench_databases() -> set[str]:
    import psycopg

    with psycopg.connect(server_url(), autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'tpfgo\\_bench%'").fetchall()
    return {name for (name,) in rows}


def bench(tmp_path: Path, *args: str) -> str:
    """``python -m bench *args`` in a clean environment (none of the test run's settings, database or broker; its
    scratch folder under ``tmp_path``): its stdout, once it exited 0. On PostgreSQL it must leave no database."""
    done = run_leaving_no_database(tmp_path, "-m", "bench", *args)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


def run_leaving_no_database(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python *args`` from the repository in the clean environment ``bench`` describes; on PostgreSQL it must leave
    no database, whether it exited 0 or not."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TPFGO_", "DJANGO_", "BENCH_", "CELERY_", "DATABASE_")) and k != "TEST_DATABASE_NAME"
    }
    env["TPFGO_VAR_DIR"] = str(tmp_path / "var")
    before = bench_databases() if connection.vendor == "postgresql" else set()
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    print(done.stdout)
    if connection.vendor == "postgresql":
        assert bench_databases() - before == set(), "left behind"
    return done


def test_sweep_finds_exactly_the_stalled_orders_at_every_level_with_the_frontier_and_the_old_query(postgres, tmp_path):
    out = json.loads(
        bench(tmp_path, "sweep", "--levels", "0,100,300", "--passes", "1", "--old-max", "100", "--pg-url", postgres)
    )
    per_order, stalled = out["rows_per_order"], out["stalled"]
    assert [level["orders"] for level in out["levels"]] == [0, 100, 300]
    assert stalled == 20 and 0 < out["stalled_rows"] < stalled * per_order  # cut after the kitchen's commitment
    frontier = {"candidates_frontier", "candidates_frontier_jit_on", "sweep_dry_run_frontier"}
    old = {"candidates_old", "sweep_dry_run_old", "candidates_old_jit_off"}
    for level in out["levels"]:
        orders = level["orders"]
        assert level["log_rows"] == (1 + orders) * per_order + out["stalled_rows"]  # the template order, seeded ones
        assert level["open_positions"] == stalled  # the frontier holds the stalled orders, no finished one
        # Every pass of a figure found exactly the stalled orders: the bench refuses the figure otherwise.
        assert set(level) & (frontier | old) == (frontier | old if orders <= 100 else frontier)  # --old-max 100
    assert [level.get("seeded_rows") for level in out["levels"]] == [None, 100 * per_order, 200 * per_order]


def test_sweep_times_the_frontiers_insert_trigger(postgres, tmp_path):
    out = json.loads(bench(tmp_path, "sweep", "--overhead", "30", "--pg-url", postgres))
    overhead = out["insert_overhead"]
    assert out["levels"] == []
    assert overhead["orders"] == 30 and overhead["rows"] == 30 * out["rows_per_order"]
    assert len(overhead["with_s"]) == len(overhead["without_s"]) == 3


def test_durability_places_every_order_in_each_mode(postgres, tmp_path):
    out = json.loads(bench(tmp_path, "durability", "--blocks", "1", "--orders", "2", "--pg-url", postgres))
    assert out["orders_per_figure"] == 2
    for figure in ("raw", "commit", "boundary"):
        assert set(out[figure]) >= {"p50_ms", "cpu_p50_ms", "wal_bytes_per_order", "transactions_per_order"}
    assert "x_raw_p50" in out["commit"] and "x_raw_p50" in out["boundary"]


def test_knee_replays_the_single_order_profile_from_several_processes(postgres, tmp_path):
    out = json.loads(bench(tmp_path, "knee", "--workers", "2", "--seconds", "0.5", "--pg-url", postgres))
    assert out["steps_per_order"] > 0
    [point] = out["points"]
    assert point["workers"] == 2 and point["orders_per_s"] > 0  # the processes replayed orders
    assert point["replay_cpu_s"] > 0  # their own CPU, reported before they exited


def test_purge_removes_exactly_the_old_orders_beside_the_ingest(tmp_path):
    args = ["--orders", "50", "--ingest", "5", "--backend", backend_flag()]
    if connection.vendor == "postgresql":
        args += ["--pg-url", server_url()]
    out = json.loads(bench(tmp_path, "purge", *args))
    assert out["vendor"] == connection.vendor and out["orders_purged"] == 50
    assert re.fullmatch(r"orders: removed 50 older than .* in 1 batches", out["purge_output"][0])
    assert out["ingest_alone"]["orders"] == out["ingest_beside_purge"]["orders"] == 5
    assert set(out["sizes_after"]) == set(out["sizes_before"])
    assert ("sizes_after_vacuum" in out) == (connection.vendor == "postgresql")


# `python -m bench purge` whose ingest beside the purge fails while the purge process is connected to the database,
# stopped there (SIGSTOP) so that it is still connected whatever the machine's speed.
FAIL_BESIDE_THE_PURGE = """
import os, signal, sys, time
from django.db import connection
from bench import purge

measure = purge._latencies

def fail_beside(count, prefix, until=None):
    if until is None:
        return measure(count, prefix)
    query = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
             " AND backend_type = 'client backend'")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and until.poll() is None:
        with connection.cursor() as cursor:
            cursor.execute(query)
            if cursor.fetchone()[0]:
                os.kill(until.pid, signal.SIGSTOP)
                raise RuntimeError(f"the ingest failed beside the connected purge process {until.pid}")
        time.sleep(0.02)
    raise RuntimeError("the purge never connected")

purge._latencies = fail_beside
purge.main(sys.argv[1:])
"""


def test_a_purge_bench_that_fails_beside_its_connected_purge_ends_the_purge_and_drops_its_database(postgres, tmp_path):
    done = run_leaving_no_database(
        tmp_path, "-c", FAIL_BESIDE_THE_PURGE, "--orders", "50", "--ingest", "5", "--pg-url", postgres
    )
    assert done.returncode == 1
    failure = re.search(r"RuntimeError: the ingest failed beside the connected purge process (\d+)\n\Z", done.stderr)
    assert failure, done.stderr[-4000:]
    assert not Path(f"/proc/{failure[1]}").exists()  # ended and reaped, not left stopped


def test_dashboard_loads_the_old_and_the_folded_funnel_and_they_count_the_same(postgres, tmp_path):
    out = json.loads(bench(tmp_path, "dashboard", "--orders", "300", "--loads", "1", "--pg-url", postgres))
    per_order = out["rows_per_order"]
    assert out["orders"] == 300 and out["log_rows"] == 301 * per_order  # the template order and its copies
    assert out["tail_rows"] == per_order  # one fold interval of 300 orders a week: one order
    assert set(out) >= {"old_funnel", "folded", "with_tail", "first_fold_s", "incremental_fold_ms"}
    assert out["same_numbers"] is True


def test_ingest_completes_every_order_in_every_figure(tmp_path):
    args = ["--orders", "5", "--rounds", "1", "--backends", backend_flag(), "--results", str(tmp_path)]
    if connection.vendor == "postgresql":
        args += ["--pg-url", server_url()]
    stdout = bench(tmp_path, "ingest", *args)
    assert "FAILED" not in stdout
    [written] = tmp_path.glob("ingest-*.json")
    [only_round] = json.loads(written.read_text())["backends"][backend_flag()]["rounds"]
    assert {name: figure["states"] for name, figure in only_round.items()} == {
        name: {"COMPLETED": 5}
        for name in ("inprocess_batched", "http_batched", "http_single", "grpc_batched", "grpc_single")
    }


def test_the_default_bench_measures_every_system_at_every_level_and_writes_its_json_and_chart(tmp_path):
    args = ["--levels", "0,500", "--repeat", "1", "--orders", "10", "--single-orders", "2", "--no-dbos", "--no-queue"]
    args += ["--backends", backend_flag(), "--results", str(tmp_path)]
    postgresql = connection.vendor == "postgresql"
    if postgresql:
        args += ["--pg-url", server_url()]  # the database: a name of the run's own (below), dropped at its end
    printed = bench(tmp_path, *args)
    [written] = tmp_path.glob("bench-*.json")
    assert written.with_suffix(".svg").exists()
    report = json.loads(written.read_text())
    assert re.fullmatch(r"tpfgo_bench_[0-9a-f]{6}", report["args"]["pg_db"])
    result = report["backends"][backend_flag()]
    raw, figures = result["raw"], result["figures"]
    assert raw["vendor"] == connection.vendor and raw["dbos"] == {"skipped": "not measured (--no-dbos)"}
    floors = {"raw_copy", "raw_copy_binary", "raw_executemany"} if postgresql else {"raw_multirow", "raw_executemany"}
    systems = floors | {"raw_floor", "raw_per_order", "naive_orm", "tpfgo_batch"}
    systems |= {"tpfgo_single", "tpfgo_single_pipeline_tx"} | ({"tpfgo_single_boundary"} if postgresql else set())
    assert list(figures) == ["0", "500"] and all(set(level) == systems for level in figures.values())
    assert raw["levels"]["500"]["stored_before"] == 500  # seeded up to the level (the warm-up and level 0: fewer)
    for level in raw["levels"].values():
        [run] = level["runs"]
        assert run["tpfgo_batch"]["completed"] == 10
        assert run["raw_floor"]["method"] in floors
        assert run["raw_per_order"]["p50_ms"] > 0  # timed order by order, like the single order it is compared with
    # The single order's target line holds its p50 to raw SQL's p50 (not to the raw run's mean), per level.
    targets = re.findall(r"durable at the boundary: p50 ([0-9.]+) ms = ([0-9.]+)× raw SQL's p50 ([0-9.]+) ms", printed)
    if postgresql:
        expected = [
            (
                f"{f['tpfgo_single_boundary']['p50_ms']:.1f}",
                f"{f['tpfgo_single_boundary']['p50_ms'] / f['raw_per_order']['p50_ms']:.2f}",
                f"{f['raw_per_order']['p50_ms']:.1f}",
            )
            for f in figures.values()
        ]
        assert targets == expected
    else:
        assert targets == []


def test_each_bench_run_names_a_postgresql_database_of_its_own_unless_told(monkeypatch):
    from bench.__main__ import default_pg_db

    monkeypatch.delenv("BENCH_PG_DB", raising=False)
    names = {default_pg_db() for _ in range(20)}
    assert len(names) == 20 and all(re.fullmatch(r"tpfgo_bench_[0-9a-f]{6}", name) for name in names)
    monkeypatch.setenv("BENCH_PG_DB", "tpfgo_bench_mine")
    assert default_pg_db() == "tpfgo_bench_mine"


def test_a_bench_database_is_reached_through_the_servers_url_with_its_query(postgres):
    import uuid

    import psycopg

    from bench import dashboard

    name = f"tpfgo_bench_query_{uuid.uuid4().hex[:6]}"
    server = f"{postgres}?application_name=tpfgo_bench_query&connect_timeout=10"
    try:
        url = dashboard._database(server, name)  # creates it
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT current_database(), current_setting('application_name')").fetchone()
        assert row == (name, "tpfgo_bench_query")
    finally:
        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
