"""Parse ``DATABASE_URL`` into a Django ``DATABASES`` entry (SQLite or PostgreSQL only)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit


def parse(url: str, base_dir: Path) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # sqlite:///var/x.sqlite3 is relative to the project, sqlite:////abs/x.sqlite3 absolute.
        path = Path(unquote(url[len("sqlite:///") :]) or "var/tpfgo.sqlite3")
        return sqlite(path if path.is_absolute() else base_dir / path)
    if parts.scheme in ("postgres", "postgresql"):
        # The query's libpq parameters (?sslmode=require, ?application_name=…) were dropped: they go to the
        # connection; its host and port, as in libpq, over the URL's own (?host=/var/run/postgresql: a socket).
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
        host, port = options.pop("host", parts.hostname or ""), options.pop("port", str(parts.port or ""))
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": host,
            "PORT": port,
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    raise ValueError(f"DATABASE_URL scheme {parts.scheme!r} is not supported (use sqlite:// or postgres://)")


def credentials(url: str) -> dict[str, str] | None:
    """The user, password, host and port of a PostgreSQL URL (None for an empty one): a role to connect as."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"a role's URL must be postgres:// (got {parts.scheme!r})")
    entry = parse(url, Path())
    return {key: entry[key] for key in ("USER", "PASSWORD", "HOST", "PORT")}


def with_user(url: str, user: str) -> str:
    """``url`` with ``user`` as its user and no password (``make run`` serves as the app role this way)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{quote(user, safe='')}@{host}").geturl()


def sqlite(path: Path) -> dict[str, Any]:
    # Web, gRPC, worker and beat share one file: WAL lets readers run beside the writer, the busy
    # timeout waits out a held lock instead of failing, and IMMEDIATE takes the write lock up front
    # so two writers never deadlock upgrading from a read lock.
    # Every step commits, and each commit appends the index pages it touched to the WAL; a checkpoint copies
    # them back into the file. SQLite's default has the commit past 1,000 pages (4 MB) do it, i.e. after
    # nearly every step of a batch, in the request. A thread checkpoints instead (pipelines.store.walcheckpoint);
    # this threshold is its backstop (docs/performance.md). After a checkpoint the WAL is cut back to 64 MB.
    wal_pages = int(os.environ.get("TPFGO_SQLITE_WAL_AUTOCHECKPOINT", "100000"))
    cache_kib = int(os.environ.get("TPFGO_SQLITE_CACHE_MB", "2")) * 1024
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=20000; PRAGMA synchronous=NORMAL; "
                f"PRAGMA wal_autocheckpoint={wal_pages}; PRAGMA journal_size_limit={64 * 1024 * 1024}; "
                f"PRAGMA cache_size=-{cache_kib};"
            ),
        },
    }
