"""Beat once per cluster: a node runs Celery beat only while it holds a PostgreSQL advisory lock.

Every node may run a beat candidate (``manage.py beat_leader``, ``bin/node beat``). Each tries the session-level
lock ``BEAT_LOCK`` on a connection of its own; the one that gets it starts ``celery beat`` as its child and checks,
every ``poll`` seconds, that its connection (so its lock) is alive and the child runs. The others try again at the
same pace, so one takes over within about ``poll`` seconds after the leader's session ends. A leader that loses its
connection kills its beat at once; a leader that dies (even by SIGKILL) takes its beat with it (the child asked
the kernel for SIGKILL on its parent's death) and its session, so its lock, ends with its socket.
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
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper

log = structlog.get_logger("pipelines.leader")

BEAT_LOCK = 7_400_022_002  # beside pipelines.store.schema.MIGRATE_LOCK
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class BeatCandidate:
    """One node's candidacy; ``run`` returns the exit status for the process."""

    def __init__(self, beat: Sequence[str], poll: float = 1.0, using: str = DEFAULT_DB_ALIAS) -> None:
        self.beat = list(beat)
        self.poll = poll
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
        self.child = subprocess.Popen(self.beat, preexec_fn=_die_with_parent)  # noqa: S603
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


def celery_beat_command(schedule: Path, loglevel: str = "INFO") -> list[str]:
    """The beat child's command line: this interpreter's Celery, the site's app."""
    celery = Path(sys.executable).with_name("celery")
    return [str(celery), "-A", "tpfgo_site", "beat", "--loglevel", loglevel, "--schedule", str(schedule)]
