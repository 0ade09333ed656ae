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


def test_a_role_url_gives_only_its_credentials():
    assert dburl.credentials("postgres://own%40er:s%3Acret@db.example:6543/ignored") == {
        "USER": "own@er",
        "PASSWORD": "s:cret",
        "HOST": "db.example",
        "PORT": "6543",
    }
    assert dburl.credentials("") is None
    with pytest.raises(ValueError, match="must be postgres://"):
        dburl.credentials("sqlite:///var/x.sqlite3")


def test_the_serving_url_is_the_owner_url_as_another_user_without_a_password():
    assert dburl.with_user("postgres://owner:secret@db:5432/tpfgo", "tpfgo_app") == "postgres://tpfgo_app@db:5432/tpfgo"
    assert dburl.with_user("postgresql://db/tpfgo", "app role") == "postgresql://app%20role@db/tpfgo"


def test_a_postgresql_urls_query_goes_to_the_connection():
    """libpq's parameters in the URL's query were dropped: ?sslmode=require connected without requiring TLS."""
    parsed = dburl.parse("postgres://u@db.example:6543/tpfgo?sslmode=require&application_name=tpfgo%20web", Path())
    assert (parsed["HOST"], parsed["PORT"], parsed["NAME"]) == ("db.example", "6543", "tpfgo")
    assert parsed["OPTIONS"] == {"sslmode": "require", "application_name": "tpfgo web"}
    socket = dburl.parse("postgresql:///tpfgo?host=/var/run/postgresql&port=5433", Path())
    assert (socket["HOST"], socket["PORT"], socket["OPTIONS"]) == ("/var/run/postgresql", "5433", {})
    assert dburl.parse("postgres://u@db/tpfgo", Path())["OPTIONS"] == {}


@pytest.mark.django_db
def test_a_connection_made_from_a_url_with_a_query_uses_it():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's settings")
    from django.db.utils import ConnectionHandler

    s = connection.settings_dict
    url = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}?application_name=tpfgo_q"
    handler = ConnectionHandler({"default": dburl.parse(url, Path())})
    try:
        with handler["default"].cursor() as cursor:
            cursor.execute("SELECT current_setting('application_name')")
            assert cursor.fetchone()[0] == "tpfgo_q"
    finally:
        handler.close_all()
