"""SQLite: WAL checkpoints off the request path.

Every commit appends the pages it changed to the write-ahead log; a checkpoint copies them back into the
database file. Left to SQLite, the commit that pushes the log past ``wal_autocheckpoint`` pages does the copying
itself, and the request (or batch) behind it waits: with big random-key indexes that is most of the cost of
writing as history grows. So each process runs one daemon thread per SQLite file that checkpoints every
``TPFGO_SQLITE_CHECKPOINT_SECONDS`` (0 turns it off) with ``PRAGMA wal_checkpoint(PASSIVE)``, which never waits
for a reader or a writer: requests go on writing while it copies, on another core. ``wal_autocheckpoint``
(``tpfgo_site.dburl``) stays as the backstop if the thread falls behind.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Any

import structlog

log = structlog.get_logger("pipelines.walcheckpoint")

_lock = threading.Lock()
_started: dict[str, int] = {}  # database file -> the pid whose thread checkpoints it


def file_of(settings_dict: dict[str, Any]) -> str | None:
    """The database file of a SQLite connection's settings, or None for an in-memory database."""
    name = str(settings_dict.get("NAME") or "")
    if not name or name == ":memory:" or "mode=memory" in name or name.startswith("file:"):
        return None
    return os.path.abspath(name)


def ensure(path: str | None, interval: float) -> bool:
    """Start the checkpointing thread for ``path`` in this process, once (again in a forked child)."""
    if path is None or interval <= 0:
        return False
    with _lock:
        if _started.get(path) == os.getpid():
            return False
        _started[path] = os.getpid()
    thread = threading.Thread(target=_run, args=(path, interval), name="tpfgo-wal-checkpoint", daemon=True)
    thread.start()
    return True


def checkpoint(connection: sqlite3.Connection) -> tuple[int, int]:
    """One passive checkpoint: (frames in the log, frames copied into the file); (-1, -1) if it was busy."""
    try:
        busy, frames, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.OperationalError:  # another connection is checkpointing right now
        return -1, -1
    return (-1, -1) if busy else (int(frames), int(copied))


def _run(path: str, interval: float) -> None:
    try:
        connection = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    except sqlite3.Error:
        log.exception("wal_checkpoint.unavailable", database=path)
        return
    log.info("wal_checkpoint.started", database=path, interval_s=interval)
    while True:
        time.sleep(interval)
        try:
            checkpoint(connection)
        except sqlite3.Error:  # the file went away (a test database), or worse: stop, autocheckpoint remains
            log.exception("wal_checkpoint.stopped", database=path)
            connection.close()
            return
