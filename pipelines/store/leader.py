"""Beat once per cluster: a node runs Celery beat only while it holds a PostgreSQL advisory lock.

Every node may run a beat candidate (``manage.py beat_leader``, ``bin/node beat``). Each tries the session-level
lock ``BEAT_LOCK`` on a connection of its own; the one that gets it starts ``celery beat`` as its child and checks,
every ``poll`` seconds, that its connection (so its lock) is alive and the child runs. The others try again at the
same pace, so one takes over within about ``poll`` seconds after the leader's session ends. A leader that loses its
connection kills its beat at once; a leader that dies (even by SIGKILL) takes its beat with it (the child asked
the kernel for SIGKILL on its parent's death) and its session, so its lock, ends with its socket.

A leader that does not die but stops answering (frozen by SIGSTOP, a paused VM, a host cut off from the database)
would keep its session, so the lock, for as long as the server keeps a silent connection (for a vanished host,
hours of TCP keepalive). So the leader's session carries ``idle_session_timeout`` = ``lease``: the server ends it
once the leader has not checked in for that long, and a standby leads. Its beat must then send nothing more, even
if it still runs (only its candidate was stopped) or wakes up with it: the beat runs ``LeaderScheduler``, which
before each tick checks that its candidate's session (its backend pid, ``TPFGO_BEAT_LOCK_PID``) still holds the
lock, and exits when it does not.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import structlog
from celery.beat import PersistentScheduler
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper

log = structlog.get_logger("pipelines.leader")

BEAT_LOCK = 7_400_022_002  # beside pipelines.store.schema.MIGRATE_LOCK
LOCK_PID_ENV = "TPFGO_BEAT_LOCK_PID"  # the leader's backend pid, given to its beat
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class BeatCandidate:
    """One node's candidacy; ``run`` returns the exit status for the process."""

    def __init__(
        self, beat: Sequence[str], poll: float = 1.0, lease: float = 10.0, using: str = DEFAULT_DB_ALIAS
    ) -> None:
        self.beat = list(beat)
        self.poll = poll
        self.lease = lease
        self.using = using
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping = False

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        lock = connections.create_connection(self.using)  # never shared with anything else in this process
        try:
            return self._campaign(lock)
        finally:
            self._kill_child()
            lock.close()

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _campaign(self, lock: BaseDatabaseWrapper) -> int:
        standby_logged = False
        while not self.stopping:
            if self._try_lock(lock):
                return self._lead(lock)
            if not standby_logged:
                log.info("beat.standby", pid=os.getpid(), reason="another node holds the beat lock")
                standby_logged = True
            time.sleep(self.poll)
        return 0

    def _try_lock(self, lock: BaseDatabaseWrapper) -> bool:
        with lock.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [BEAT_LOCK])
            return bool(cursor.fetchone()[0])

    def _lead(self, lock: BaseDatabaseWrapper) -> int:
        with lock.cursor() as cursor:
            # The server ends this session (so releases the lock) once it has been silent for the lease: a frozen
            # or cut-off leader. A live one checks in every poll.
            cursor.execute("SELECT set_config('idle_session_timeout', %s, false)", [f"{round(self.lease * 1000)}ms"])
            cursor.execute("SELECT pg_backend_pid()")
            backend = int(cursor.fetchone()[0])
        env = {**os.environ, LOCK_PID_ENV: str(backend)}
        self.child = subprocess.Popen(self.beat, env=env, preexec_fn=_die_with_parent)  # noqa: S603
        log.info("beat.leader", pid=os.getpid(), beat_pid=self.child.pid)
        while not self.stopping:
            status = self.child.poll()
            if status is not None:
                log.error("beat.exited", beat_pid=self.child.pid, status=status)
                return status or 1
            try:
                with lock.cursor() as cursor:
                    cursor.execute("SELECT 1")
            except DatabaseError as exc:  # the session, so the lock, may be gone: another node may lead now
                log.error("beat.lock_lost", beat_pid=self.child.pid, error=str(exc))
                self._kill_child(signal.SIGKILL)
                return 1
            time.sleep(self.poll)
        self._kill_child()
        return 0

    def _kill_child(self, how: signal.Signals = signal.SIGTERM) -> None:
        child, self.child = self.child, None
        if child is None or child.poll() is not None:
            return
        child.send_signal(how)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        log.info("beat.stopped", beat_pid=child.pid, status=child.returncode)


def holds_lock(backend: int, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether the session with this backend pid holds the beat lock in this database."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = %s"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid = %s AND objid = %s AND objsubid = 1)",
            [backend, BEAT_LOCK >> 32, BEAT_LOCK & 0xFFFFFFFF],
        )
        return bool(cursor.fetchone()[0])


class LeaderScheduler(PersistentScheduler):  # type: ignore[misc]  # celery has no type hints
    """Beat's scheduler under a candidate: sends nothing once its candidate's session no longer holds the lock."""

    def tick(self, *args: object, **kwargs: object) -> float:
        backend = os.environ.get(LOCK_PID_ENV)
        if backend:
            try:
                leads = holds_lock(int(backend))
            except DatabaseError as exc:
                log.error("beat.fenced", backend=backend, error=str(exc))
                raise SystemExit(1) from exc
            if not leads:
                log.error("beat.fenced", backend=backend, reason="the candidate's session no longer holds the lock")
                raise SystemExit(1)
        return float(super().tick(*args, **kwargs))


def celery_beat_command(schedule: Path, loglevel: str = "INFO") -> list[str]:
    """The beat child's command line: this interpreter's Celery, the site's app, the fenced scheduler."""
    celery = Path(sys.executable).with_name("celery")
    return [
        str(celery),
        "-A",
        "tpfgo_site",
        "beat",
        "--loglevel",
        loglevel,
        "--schedule",
        str(schedule),
        "--scheduler",
        "pipelines.store.leader:LeaderScheduler",
    ]
