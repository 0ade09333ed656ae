"""The commands the docs give run as written from the project's root: `manage.py` with the virtualenv's Python
(`make run` installs Django there; a bare `python` has none, and `manage.py` alone is not on PATH)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# A command line that starts with manage.py, or runs it with a Python other than the virtualenv's.
BARE = re.compile(r"^\s*manage\.py |(?<!\.venv/bin/)(?<![\w/.-])python3? manage\.py", re.MULTILINE)


def bare_commands(text: str) -> list[str]:
    return [match.group(0).strip() for match in BARE.finditer(text)]


def test_the_scan_finds_a_bare_command_and_accepts_the_virtualenv_one():
    text = "    manage.py sweep\n`python manage.py check`\n.venv/bin/python manage.py check\nsee `manage.py sweep`"
    assert bare_commands(text) == ["manage.py", "python manage.py"]


def test_every_manage_py_command_in_the_docs_runs_with_the_virtualenv_python():
    pages = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
    found = {page.name: bare_commands(page.read_text(encoding="utf-8")) for page in pages}
    assert {name: commands for name, commands in found.items() if commands} == {}


def restore_listing() -> str:
    """The query operations.md's "Backup and restore" gives to list the erasures made since a backup."""
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    found = re.findall(r"^\s*(SELECT result->>'consumer'.*;)$", text, re.MULTILINE)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.django_db
def test_the_restore_procedures_listing_of_erasures_runs_as_written_and_finds_them():
    from django.db import connection

    from checkout import demo, personal

    demo.load()
    personal.erase("bob", actor="cli:test", reason="request #41")
    with connection.cursor() as cursor:
        cursor.execute(restore_listing())
        rows = cursor.fetchall()
    assert [row[0] for row in rows] == ["bob"]


def restore_sequence_statements() -> tuple[str, str]:
    """The two statements operations.md's "Backup and restore" gives to move the log's sequence past every position
    the replaced database gave out: the read on that database, then the move on the restored one."""
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    read = re.findall(r"^\s*(SELECT pg_sequence_last_value\(.*;)$", text, re.MULTILINE)
    move = re.findall(r"^\s*(SELECT setval\(.*, N\);)$", text, re.MULTILINE)
    assert len(read) == 1 and len(move) == 1, (read, move)
    return read[0], move[0]


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_restore_procedures_sequence_statements_make_a_kept_position_resume_without_skipping_a_new_row():
    from django.db import connection

    from checkout import demo, services
    from pipelines.models import CheckpointLog
    from pipelines.store.store import store
    from pipelines.transport import subscriptions
    from tests.checkout.conftest import order_body

    if connection.vendor != "postgresql":
        pytest.skip("the restore procedure is PostgreSQL's")
    read, move = restore_sequence_statements()
    demo.load()
    services.place_order(order_body(), "before-the-backup")
    with connection.cursor() as cursor:
        cursor.execute(read)  # on the replaced database: here, this one as the backup left it
        (restored,) = cursor.fetchone()
    assert restored == store.log_seqs_issued(connection)
    # The replaced database went on after the backup: a client kept a position it gave out, above the restored log.
    kept = restored + 40
    with pytest.raises(subscriptions.PositionAhead):
        subscriptions.start_position(str(kept), None)

    with connection.cursor() as cursor:
        cursor.execute(move.replace(", N)", ", %s)"), [kept])
    services.place_order(order_body(), "after-the-restore")

    new = list(CheckpointLog.objects.filter(seq__gt=restored).values_list("seq", flat=True))
    assert new and min(new) == kept + 1  # before: restored + 1 on, the first 40 below the kept position, skipped
    assert subscriptions.start_position(str(kept), None) == kept
