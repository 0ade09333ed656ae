"""The upgrade runbook (docs/operations.md, "Upgrading") runs as written: its ``manage.py`` commands, in the
table's order, on a new PostgreSQL database that is behind this code (the first check refuses it, ``migrate``
brings it level, ``setup_db_roles`` grants to roles made for this test, every later check passes); its backup is
a real ``pg_dump`` that ``pg_restore --list`` reads; and every ``bin/node`` role, ``celery inspect`` command and
route it names exists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.urls import resolve

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
MANAGE = ".venv/bin/python manage.py "
NAMED = re.compile(r"`((?:\.venv/bin/python manage\.py|\.venv/bin/celery|bin/node|pg_dump|pg_restore|curl) [^`]*)`")


def runbook() -> str:
    return OPERATIONS.split("\n## Upgrading\n", 1)[1].split("\n## ", 1)[0]


def named() -> list[str]:
    """Every command the runbook's table names, in the order it names them (row by row, left to right)."""
    rows = [line for line in runbook().splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    return [command for row in rows[1:] for command in NAMED.findall(row)]


def test_the_runbook_names_its_steps_in_the_order_schema_roles_workers_beat_web():
    steps = [row.split(" | ")[0].lstrip("| ") for row in runbook().splitlines() if re.match(r"\| \d\. ", row)]
    assert steps == [
        "1. back up",
        "2. see what the schema gets",
        "3. migrate while the old nodes serve",
        "4. the roles' grants",
        "5. workers",
        "6. beat",
        "7. web and gRPC",
        "8. after",
    ]


def test_every_node_role_celery_command_and_route_it_names_exists():
    usage = re.search(r'fail "usage: bin/node ([\w|]+)', (ROOT / "bin" / "node").read_text()).group(1)  # type: ignore[union-attr]
    roles = {command.split()[1] for command in named() if command.startswith("bin/node ")}
    assert roles == {"prepare", "worker", "beat", "grpc"} and roles <= set(usage.split("|"))
    listed = subprocess.run(
        [str(ROOT / ".venv/bin/celery"), "-A", "tpfgo_site", "inspect", "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    inspects = {command.split()[4] for command in named() if command.startswith(".venv/bin/celery ")}
    assert inspects == {"ping", "registered"}
    assert all(re.search(rf"^  {name}\b", listed, re.MULTILINE) for name in inspects), listed
    (probe,) = {command for command in named() if command.startswith("curl ")}
    assert probe == "curl -fsS http://HOST:PORT/readyz" and resolve("/readyz").url_name


@pytest.fixture
def behind(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A new database on the test database's server, no migration applied, and the environment of a ``manage.py``
    run by the owner against it, with a serving and a purge role named for this test (dropped after)."""
    if connection.vendor != "postgresql":
        pytest.skip("the upgrade runbook is PostgreSQL's")
    settings = connection.settings_dict
    server = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}"
    tag = uuid.uuid4().hex[:8]
    name, app, purge = f"{settings['NAME']}_upgrade_{tag}", f"tpfgo_up_{tag}_app", f"tpfgo_up_{tag}_purge"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "PROMETHEUS_MULTIPROC"))},
        "DJANGO_SETTINGS_MODULE": "tpfgo_site.settings",
        "DATABASE_URL": f"{server}/{name}",
        "TPFGO_DB_APP_ROLE": app,
        "TPFGO_DB_PURGE_ROLE": purge,
        "TPFGO_VAR_DIR": str(tmp_path),
        "PROMETHEUS_MULTIPROC_DIR": "",
    }
    try:
        yield env
    finally:
        with psycopg.connect(f"{server}/{name}", autocommit=True) as owner:
            for role in (app, purge):
                if owner.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                    owner.execute(f'DROP OWNED BY "{role}"')
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            for role in (app, purge):
                admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def run(command: str, env: dict[str, str], dump: Path) -> subprocess.CompletedProcess[str]:
    if command.startswith(MANAGE):
        args = [sys.executable, "manage.py", *command[len(MANAGE) :].split()]
    else:  # the backup's placeholders: this test's database and file
        args = command.replace("postgres://OWNER@HOST:5432/tpfgo", env["DATABASE_URL"]).replace("tpfgo.dump", str(dump))
        args = args.split()  # type: ignore[assignment]
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_runbooks_backup_and_manage_py_commands_run_in_their_order_on_a_database_behind_this_code(behind, tmp_path):
    commands = [c for c in named() if c.startswith((MANAGE, "pg_dump ", "pg_restore "))]
    assert [c.removeprefix(MANAGE) for c in commands] == [
        "pg_dump --format=custom --file=tpfgo.dump --dbname=postgres://OWNER@HOST:5432/tpfgo",
        "pg_restore --list tpfgo.dump",
        "check_schema",
        "migrate --plan",
        "migrate",
        "migrate --check",
        "setup_db_roles",
        "check --database default --fail-level WARNING",
        "check --database default --fail-level WARNING",
        "partitions --list",
        "partitions",
    ]
    ran = [(c.removeprefix(MANAGE), run(c, behind, tmp_path / "tpfgo.dump")) for c in commands]

    codes = {command: done.returncode for command, done in ran}
    refused = ran[2][1]  # step 2's check, before the migrate
    assert refused.returncode == 1 and "the database schema is behind this code" in refused.stderr
    assert "'bin/node prepare'" in refused.stderr  # a role bin/node has
    assert [command for command, done in ran if done.returncode != 0] == ["check_schema"], codes
    assert "Planned operations:" in ran[3][1].stdout
    assert f"serving role {behind['TPFGO_DB_APP_ROLE']}" in ran[6][1].stdout, ran[6][1].stdout
    assert "_default: DEFAULT, 0 row(s)" in ran[9][1].stdout
    again = run(MANAGE + "check_schema", behind, tmp_path / "unused")
    assert again.returncode == 0, again.stderr
