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
