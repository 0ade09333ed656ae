"""DATABASE_URL parsing and the SQLite connection settings."""

from pathlib import Path

import pytest
from django.db import connection

from tpfgo_site import dburl


def test_sqlite_checkpoints_its_wal_every_100000_pages_unless_told(monkeypatch):
    monkeypatch.delenv("TPFGO_SQLITE_WAL_AUTOCHECKPOINT", raising=False)
    assert "PRAGMA wal_autocheckpoint=100000;" in dburl.sqlite(Path("x.sqlite3"))["OPTIONS"]["init_command"]
    monkeypatch.setenv("TPFGO_SQLITE_WAL_AUTOCHECKPOINT", "1000")
    assert "PRAGMA wal_autocheckpoint=1000;" in dburl.sqlite(Path("x.sqlite3"))["OPTIONS"]["init_command"]


def test_sqlite_page_cache_is_2_mb_unless_told(monkeypatch):
    monkeypatch.delenv("TPFGO_SQLITE_CACHE_MB", raising=False)
    assert "PRAGMA cache_size=-2048;" in dburl.sqlite(Path("x.sqlite3"))["OPTIONS"]["init_command"]
    monkeypatch.setenv("TPFGO_SQLITE_CACHE_MB", "512")
    assert "PRAGMA cache_size=-524288;" in dburl.sqlite(Path("x.sqlite3"))["OPTIONS"]["init_command"]


@pytest.mark.django_db
def test_a_sqlite_connection_runs_the_pragmas():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's settings")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone()[0] == 100000
        cursor.execute("PRAGMA synchronous")
        assert cursor.fetchone()[0] == 1  # NORMAL
