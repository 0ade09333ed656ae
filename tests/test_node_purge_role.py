"""`bin/node` and `bin/run` give the purge role's URL to the Celery worker, which runs beat's retention task
(`pipelines.purge`), and to no other server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OWNER = "postgres://owner@127.0.0.1:5432/shop"


def stub_venv(tmp_path: Path) -> tuple[Path, Path]:
    """A virtualenv whose servers (celery, gunicorn, manage.py grpcrunserver) only record the database URLs they
    were given; ``python -c`` (the URL rewriting) is the real interpreter, every other ``manage.py`` call passes."""
    seen = tmp_path / "seen"
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    record = f'echo "$(basename "$0") $* PURGE=${{DATABASE_PURGE_URL:-}} URL=${{DATABASE_URL:-}}" >> {seen}\n'
    for name in ("celery", "gunicorn"):
        (bin_dir / name).write_text("#!/bin/sh\n" + record)
    (bin_dir / "python").write_text(
        f'#!/bin/sh\ncase "$1" in -c) exec {sys.executable} "$@";; esac\n'
        f'case "$*" in *grpcrunserver*) {record};; esac\n'
    )
    for path in bin_dir.iterdir():
        path.chmod(0o755)
    return bin_dir.parent, seen


def node(role: str, tmp_path: Path, **extra: str) -> str:
    venv, seen = stub_venv(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "TPFGO_DB_"))}
    env.update(VENV=str(venv), TPFGO_VAR_DIR=str(tmp_path / "var"), DATABASE_URL=OWNER, **extra)
    done = subprocess.run(["bin/node", role], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (line,) = seen.read_text().splitlines()
    return line


def test_a_worker_node_gets_the_purge_role_derived_from_the_owner_url(tmp_path):
    """Before: every server lost DATABASE_PURGE_URL, so the worker purged as the serving role, and beat's hourly
    pipelines.purge failed with `permission denied for table …` once anything had expired: retention never ran."""
    line = node("worker", tmp_path, TPFGO_DB_PURGE_ROLE="shop_purge", TPFGO_DB_APP_ROLE="shop_app")
    assert line.endswith(" PURGE=postgres://shop_purge@127.0.0.1:5432/shop URL=postgres://shop_app@127.0.0.1:5432/shop")


def test_a_worker_node_gets_the_purge_url_it_was_given(tmp_path):
    given = "postgres://shop_purge:secret@db:5432/shop"
    line = node("worker", tmp_path, DATABASE_OWNER_URL=OWNER, DATABASE_PURGE_URL=given)
    assert f" PURGE={given} " in line


@pytest.mark.parametrize("role", ["web", "grpc"])
def test_no_other_server_gets_the_purge_role(role, tmp_path):
    line = node(role, tmp_path, DATABASE_PURGE_URL="postgres://shop_purge:secret@db:5432/shop")
    assert " PURGE= URL=postgres://tpfgo_app@127.0.0.1:5432/shop" in line
