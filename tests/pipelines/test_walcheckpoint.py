"""SQLite: WAL checkpoints off the request path."""

import sqlite3
import threading

from pipelines.store import walcheckpoint


def test_only_a_database_file_gets_a_checkpointer(tmp_path):
    assert walcheckpoint.file_of({"NAME": ":memory:"}) is None
    assert walcheckpoint.file_of({"NAME": "file:memorydb_default?mode=memory&cache=shared"}) is None
    assert walcheckpoint.file_of({"NAME": str(tmp_path / "db.sqlite3")}) == str(tmp_path / "db.sqlite3")
    assert walcheckpoint.ensure(None, 0.5) is False
    assert walcheckpoint.ensure(str(tmp_path / "db.sqlite3"), 0) is False


def test_a_passive_checkpoint_copies_the_log_back_into_the_file(tmp_path):
    path = str(tmp_path / "db.sqlite3")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")  # nothing copies but the checkpointer
    writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    writer.executemany("INSERT INTO t (v) VALUES (?)", [("x" * 500,) for _ in range(2000)])
    checkpointer = sqlite3.connect(path, isolation_level=None, timeout=0)

    frames, copied = walcheckpoint.checkpoint(checkpointer)

    assert frames > 0 and copied == frames
    # Everything is in the file now: a fresh connection without the log sees every row.
    writer.close()
    checkpointer.close()
    assert sqlite3.connect(path).execute("SELECT count(*) FROM t").fetchone() == (2000,)


def test_one_thread_per_file_and_process(tmp_path, monkeypatch):
    started = []
    ran = threading.Event()

    def run(path: str, interval: float) -> None:  # the loop itself would outlive the test
        started.append((path, interval, threading.current_thread().name))
        ran.set()

    monkeypatch.setattr(walcheckpoint, "_run", run)
    path = str(tmp_path / "db.sqlite3")

    assert walcheckpoint.ensure(path, 0.5) is True
    assert walcheckpoint.ensure(path, 0.5) is False  # already running in this process
    assert ran.wait(5)
    assert started == [(path, 0.5, "tpfgo-wal-checkpoint")]
