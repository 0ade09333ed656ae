"""Every ``python -m bench`` parser refuses a size it cannot run with one argparse line, before anything is created
(bench/arguments.py); these tests parse only, no bench runs."""

from __future__ import annotations

import argparse
import sys

import pytest

from bench import (
    arguments,
    backend,
    dashboard,
    dbos_workflow,
    durability,
    ingest,
    ingest_backpressure,
    knee,
    purge,
    queue_mode,
    sweep,
)

SUB_BENCHES = (backend, purge, ingest, dashboard, sweep, knee, durability, ingest_backpressure, queue_mode)
WHOLE = "a whole number from 1 to"
OWN = "a database of the bench's own"
OWN_63 = f"{OWN}, 1-63 lower-case letters, digits and underscores (not postgres, template0 or template1)"
DBOS_URL = ["--database-url", "sqlite:///tmp/dbos.sqlite3"]
# The server a bench makes its databases on: the URL may hold a password, so no refusal repeats it.
SERVER = "postgres://HOST[:PORT]/NAME or postgresql://HOST[:PORT]/NAME"


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (
            ["--backends", "postgress"],
            "argument --backends: 'postgress': sqlite, postgres, or several separated by commas",
        ),
        (["--backends", ","], "argument --backends: ',': sqlite, postgres, or several separated by commas"),
        (["--orders", "-5"], f"argument --orders: '-5': {WHOLE} 10,000,000"),
        (["--orders", "99999999999999999999"], f"argument --orders: '99999999999999999999': {WHOLE} 10,000,000"),
        (["--single-orders", "0"], f"argument --single-orders: '0': {WHOLE} 10,000,000"),
        (["--repeat", "0"], f"argument --repeat: '0': {WHOLE} 100"),
        (["--levels", "abc"], "argument --levels: 'abc': whole numbers from 0 to 10,000,000 separated by commas"),
        (["--levels", "0,-1"], "argument --levels: '0,-1': whole numbers from 0 to 10,000,000 separated by commas"),
        # a database of its own: the bench drops and creates it
        (["--pg-db", "postgres"], f"argument --pg-db: 'postgres': {OWN}, 1-58 lower-case"),
        (["--pg-db", "x; DROP TABLE y"], f"argument --pg-db: 'x; DROP TABLE y': {OWN}"),
        (["--pg-db", "Mine"], f"argument --pg-db: 'Mine': {OWN}"),
        (["--pg-db", "a" * 59], f"argument --pg-db: '{'a' * 59}': {OWN}"),
        (["--pg-url", "mysql://u:secret@h/postgres"], f"argument --pg-url: {SERVER}"),
        (
            ["--pg-url", "postgres://u:secret@h:5432"],
            f"argument --pg-url: {SERVER}",
        ),  # no NAME: a database of its own went to a host of that name
        (["--pg-url", "postgres://u:secret@/postgres"], f"argument --pg-url: {SERVER}"),
        (["--pg-url", "postgres://u:secret@[h/postgres"], f"argument --pg-url: {SERVER}"),
    ],
)
def test_the_main_bench_refuses_a_backend_a_size_or_a_database_it_cannot_run_before_it_creates_anything(
    monkeypatch, capsys, arguments, says
):
    from bench import __main__ as bench_main

    def run_backend(*args):
        raise AssertionError("it ran a backend")

    monkeypatch.setattr(bench_main, "run_backend", run_backend)
    monkeypatch.setattr(sys, "argv", ["python -m bench", *arguments])
    with pytest.raises(SystemExit) as refused:
        bench_main.main()
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith(f"python -m bench: error: {says}")
    assert "secret" not in err


@pytest.mark.parametrize(
    ("bench", "arguments", "says"),
    [
        (backend, ["--orders", "0"], f"--orders: '0': {WHOLE} 10,000,000"),
        (backend, ["--single-orders", "-1"], f"--single-orders: '-1': {WHOLE} 10,000,000"),
        (backend, ["--repeat", "101"], f"--repeat: '101': {WHOLE} 100"),
        (backend, ["--levels", "0,x"], "--levels: '0,x': whole numbers from 0 to 10,000,000 separated by commas"),
        (dbos_workflow, [*DBOS_URL, "--orders", "0"], f"--orders: '0': {WHOLE} 10,000,000"),
        (dbos_workflow, ["--database-url", "mysql://h/x"], "--database-url: sqlite:///PATH or postgresql://HOST/NAME"),
        (dbos_workflow, ["--database-url", "sqlite://"], "--database-url: sqlite:///PATH or postgresql://HOST/NAME"),
        (
            dbos_workflow,  # the URL may hold a password: the refusal names its database only
            ["--database-url", "postgresql://u:secret@h/x;DROP"],
            f"--database-url: the URL's database 'x;DROP': {OWN_63}",
        ),
        (
            dbos_workflow,
            ["--database-url", "postgresql://h/postgres"],
            f"--database-url: the URL's database 'postgres': {OWN_63}",
        ),
        (
            dbos_workflow,  # urllib's own refusal of it was repeated by argparse, with the password
            ["--database-url", "postgresql://u:secret@[h/x"],
            "--database-url: sqlite:///PATH or postgresql://HOST/NAME",
        ),
        (
            dbos_workflow,
            ["--database-url", "postgresql://u:secret@h:abc/x"],
            "--database-url: sqlite:///PATH or postgresql://HOST/NAME",
        ),
        (purge, ["--orders", "0"], f"--orders: '0': {WHOLE} 10,000,000"),
        (purge, ["--ingest", "-1"], f"--ingest: '-1': {WHOLE} 10,000,000"),
        (purge, ["--orders", "1e9"], f"--orders: '1e9': {WHOLE} 10,000,000"),
        (purge, ["--pg-url", "postgresql://u:secret@h"], f"--pg-url: {SERVER}"),
        (ingest, ["--orders", "0"], f"--orders: '0': {WHOLE} 10,000,000"),
        (ingest, ["--rounds", "0"], f"--rounds: '0': {WHOLE} 100"),
        (ingest, ["--backends", "mysql"], "--backends: 'mysql': sqlite, postgres, or several separated by commas"),
        (ingest, ["--pg-url", "postgres://u:secret@[h/postgres"], f"--pg-url: {SERVER}"),
        (dashboard, ["--orders", "-1"], f"--orders: '-1': {WHOLE} 10,000,000"),
        (dashboard, ["--loads", "0"], f"--loads: '0': {WHOLE} 100"),
        (dashboard, ["--fold-seconds", "0"], f"--fold-seconds: '0': {WHOLE} 3,600"),
        (dashboard, ["--reuse", "x; DROP TABLE y"], f"--reuse: 'x; DROP TABLE y': {OWN_63}"),
        (dashboard, ["--reuse", "postgres"], f"--reuse: 'postgres': {OWN_63}"),
        (dashboard, ["--reuse", "kept?host=elsewhere"], f"--reuse: 'kept?host=elsewhere': {OWN_63}"),
        (dashboard, ["--pg-url", "postgres://u:secret@/postgres"], f"--pg-url: {SERVER}"),
        (sweep, ["--levels", "0,x"], "--levels: '0,x': whole numbers from 0 to 10,000,000 separated by commas"),
        (sweep, ["--passes", "0"], f"--passes: '0': {WHOLE} 100"),
        (sweep, ["--old-passes", "101"], f"--old-passes: '101': {WHOLE} 100"),
        (sweep, ["--old-max", "-1"], "--old-max: '-1': a whole number from 0 to 1,000,000,000"),
        (sweep, ["--overhead", "0"], f"--overhead: '0': {WHOLE} 10,000,000"),
        (sweep, ["--pg-url", "postgres://u:secret@h:99999/postgres"], f"--pg-url: {SERVER}"),
        (knee, ["--workers", "0,2"], "--workers: '0,2': whole numbers from 1 to 256 separated by commas"),
        (knee, ["--seconds", "nan"], "--seconds: 'nan': a number above 0 and at most 3,600"),
        (knee, ["--seconds", "inf"], "--seconds: 'inf': a number above 0 and at most 3,600"),
        (knee, ["--seconds", "0"], "--seconds: '0': a number above 0 and at most 3,600"),
        (knee, ["--pg-url", "postgres://u:secret@h/a/b"], f"--pg-url: {SERVER}"),
        (durability, ["--blocks", "0"], f"--blocks: '0': {WHOLE} 100"),
        (durability, ["--orders", "-3"], f"--orders: '-3': {WHOLE} 10,000,000"),
        (durability, ["--pg-url", "sqlite:///secret.sqlite3"], f"--pg-url: {SERVER}"),
        (ingest_backpressure, ["--orders", "0"], f"--orders: '0': {WHOLE} 10,000,000"),
        (ingest_backpressure, ["--delay-ms", "-1"], "--delay-ms: '-1': a number above 0 and at most 3,600,000"),
        (ingest_backpressure, ["--capacity", "0"], f"--capacity: '0': {WHOLE} 10,000,000"),
        (ingest_backpressure, ["--batch", "0"], f"--batch: '0': {WHOLE} 10,000,000"),
        (queue_mode, ["--orders", "0"], f"--orders: '0': {WHOLE} 10,000,000"),
        (queue_mode, ["--clients", "0"], f"--clients: '0': {WHOLE} 256"),
        (queue_mode, ["--modes", "sync,async"], "--modes: 'sync,async': sync, queue, or several separated by commas"),
        (queue_mode, ["--workers", "1,,2"], "--workers: '1,,2': whole numbers from 1 to 256 separated by commas"),
        (queue_mode, ["--web-nodes", "0"], f"--web-nodes: '0': {WHOLE} 256"),
        (queue_mode, ["--concurrency", "1000"], f"--concurrency: '1000': {WHOLE} 256"),
        (queue_mode, ["--overload-seconds", "-1"], "--overload-seconds: '-1': a number above 0 and at most 3,600"),
        (queue_mode, ["--overload-factor", "nan"], "--overload-factor: 'nan': a number above 0 and at most 100"),
        (queue_mode, ["--overload-bound", "0"], f"--overload-bound: '0': {WHOLE} 10,000,000"),
        (queue_mode, ["--pg-url", "postgres://u:secret@h:0/postgres"], f"--pg-url: {SERVER}"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_a_sub_bench_refuses_a_size_it_cannot_run_with_one_line(capsys, bench, arguments, says):
    parser = bench.parser()
    with pytest.raises(SystemExit) as refused:
        parser.parse_args(arguments)
    assert refused.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"{parser.prog}: error: argument {says}"


@pytest.mark.parametrize("bench", SUB_BENCHES, ids=lambda bench: bench.__name__)
def test_a_sub_bench_takes_its_defaults(bench):
    args = bench.parser().parse_args([])
    assert vars(args) == {action.dest: action.default for action in bench.parser()._actions if action.dest != "help"}


SERVER_BENCHES = tuple(
    bench for bench in SUB_BENCHES if any(action.dest == "pg_url" for action in bench.parser()._actions)
)


def test_seven_sub_benches_make_their_databases_on_a_server():
    assert [bench.__name__ for bench in SERVER_BENCHES] == [
        "bench.purge",
        "bench.ingest",
        "bench.dashboard",
        "bench.sweep",
        "bench.knee",
        "bench.durability",
        "bench.queue_mode",
    ]


@pytest.mark.parametrize("bench", SERVER_BENCHES, ids=lambda bench: bench.__name__)
def test_every_sub_bench_takes_its_server_from_bench_pg_url_unless_given_one(monkeypatch, bench):
    monkeypatch.setenv("BENCH_PG_URL", "postgres://bench@db.example:6543/admin?sslmode=disable")
    assert bench.parser().parse_args([]).pg_url == "postgres://bench@db.example:6543/admin?sslmode=disable"
    given = ["--pg-url", "postgres://other@127.0.0.1/postgres"]
    assert bench.parser().parse_args(given).pg_url == "postgres://other@127.0.0.1/postgres"
    monkeypatch.delenv("BENCH_PG_URL")
    assert bench.parser().parse_args([]).pg_url == "postgres://postgres@127.0.0.1:5432/postgres"


@pytest.mark.parametrize("bench", SERVER_BENCHES, ids=lambda bench: bench.__name__)
def test_every_sub_bench_refuses_a_bench_pg_url_it_cannot_run_without_repeating_it(monkeypatch, capsys, bench):
    monkeypatch.setenv("BENCH_PG_URL", "mysql://u:secret@h/postgres")
    parser = bench.parser()
    with pytest.raises(SystemExit) as refused:
        parser.parse_args([])
    assert refused.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"{parser.prog}: error: argument --pg-url: {SERVER}"


def test_the_main_bench_takes_its_server_from_bench_pg_url(monkeypatch):
    from bench import __main__ as bench_main

    seen = []

    def run_backend(backend, args, workdir):
        seen.append(args.pg_url)
        raise SystemExit(0)

    monkeypatch.setattr(bench_main, "run_backend", run_backend)
    monkeypatch.setenv("BENCH_PG_URL", "postgres://bench@db.example:6543/admin")
    monkeypatch.setattr(sys, "argv", ["python -m bench", "--backends", "postgres"])
    with pytest.raises(SystemExit):
        bench_main.main()
    assert seen == ["postgres://bench@db.example:6543/admin"]


@pytest.mark.parametrize(
    ("server", "database"),
    [
        ("postgres://postgres@127.0.0.1:5432/postgres", "postgres://postgres@127.0.0.1:5432/tpfgo_b"),
        ("postgres://u:p%2Fw@h/postgres?sslmode=disable", "postgres://u:p%2Fw@h/tpfgo_b?sslmode=disable"),
        (  # the last "/" is the socket folder's: the URL was cut there
            "postgres://postgres@localhost/postgres?host=/var/run/postgresql&application_name=b",
            "postgres://postgres@localhost/tpfgo_b?host=/var/run/postgresql&application_name=b",
        ),
        ("postgresql:///postgres?host=/var/run/postgresql", "postgresql:///tpfgo_b?host=/var/run/postgresql"),
    ],
)
def test_a_bench_names_its_database_in_the_servers_url_keeping_its_query(server, database):
    from bench import __main__ as bench_main

    assert arguments.server_url(server) == server
    assert arguments.with_database(server, "tpfgo_b") == database
    assert bench_main._with_db(server, "tpfgo_b") == database


def test_a_server_url_without_a_host_anywhere_is_refused():
    with pytest.raises(argparse.ArgumentTypeError):
        arguments.server_url("postgresql:///postgres?sslmode=disable")
    with pytest.raises(argparse.ArgumentTypeError):
        arguments.server_url("postgresql:///postgres?host=")
