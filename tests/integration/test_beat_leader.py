"""Beat once per cluster: two beat candidates (``bin/node beat``) on one PostgreSQL database; one leads, the other
takes over within a bound when the leader is SIGKILLed or frozen (SIGSTOP), and two beats never run at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.integration.conftest import process_env, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

POLL = 0.2
TAKEOVER_BOUND = 15.0  # seconds from the leader's death to the other candidate's beat


class Candidate:
    def __init__(self, name: str, tmp_path: Path, *args: str) -> None:
        self.log = tmp_path / f"{name}.log"
        env = process_env(NODE_NAME=name, TPFGO_VAR_DIR=str(tmp_path))
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                ["bin/node", "beat", "--poll", str(POLL), *args],
                env=env,
                cwd=settings.BASE_DIR,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def beat_pid(self) -> int | None:
        """The pid of the beat this candidate started as leader (None while it has not led)."""
        pids = [line["beat_pid"] for line in lines(self.output()) if line.get("event") == "beat.leader"]
        return int(pids[-1]) if pids else None

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)


def lines(output: str) -> list[dict]:
    """The JSON log lines of a process's output."""
    parsed = []
    for line in output.splitlines():
        if line.startswith("{"):
            try:
                parsed.append(json.loads(line))
            except ValueError:
                continue
    return parsed


def running(pid: int | None) -> bool:
    """Whether a process runs (a zombie, dead but not yet reaped, does not)."""
    if pid is None:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_one_beat_leads_and_another_takes_over_when_it_is_killed(tmp_path):
    a, b = Candidate("beat-a", tmp_path), Candidate("beat-b", tmp_path)
    try:
        leader = wait_for(lambda: a.beat_pid() or b.beat_pid(), 60, what="a beat leader")
        first, second = (a, b) if a.beat_pid() else (b, a)
        wait_for(lambda: '"beat.standby"' in second.output(), 30, what="the other candidate to stand by")
        deadline = time.monotonic() + 3  # the standby stays one while the leader lives
        while time.monotonic() < deadline:
            assert second.beat_pid() is None
            assert running(leader)
            time.sleep(POLL)

        os.kill(first.process.pid, signal.SIGKILL)  # the candidate only: its beat must die with it
        killed_at = time.monotonic()
        overlap = []  # moments when both beats ran
        while time.monotonic() - killed_at < TAKEOVER_BOUND:
            new_beat = second.beat_pid()
            if running(leader) and running(new_beat):
                overlap.append(time.monotonic() - killed_at)
            if new_beat is not None:
                break
            time.sleep(0.05)
        took_over = time.monotonic() - killed_at
        assert new_beat is not None, f"no take-over within {TAKEOVER_BOUND}s\n{second.output()[-3000:]}"
        time.sleep(1)
        assert overlap == []
        assert not running(leader)
        assert running(new_beat)
        assert took_over < TAKEOVER_BOUND
    finally:
        a.stop()
        b.stop()


LEASE = 2.0


def sent(output: str) -> int:
    """How many periodic tasks a beat sent (its "Sending due task" lines)."""
    return output.count("Sending due task")


@pytest.mark.parametrize("whole_group", [True, False], ids=["node-frozen", "candidate-frozen"])
def test_a_frozen_leader_loses_the_lead_within_its_lease_and_its_beat_sends_nothing_after(tmp_path, whole_group):
    """A frozen leader (SIGSTOP to its node, or to the candidate alone while its beat runs on) kept the lock for as
    long as it was frozen: no beat ran (or its beat ran on unsupervised). Now the database ends its session after
    the lease, the standby leads, and the old beat sends nothing more, neither while frozen nor after SIGCONT."""
    a = Candidate("beat-a", tmp_path, "--lease", str(LEASE))
    b = Candidate("beat-b", tmp_path, "--lease", str(LEASE))
    try:
        leader = wait_for(lambda: a.beat_pid() or b.beat_pid(), 60, what="a beat leader")
        first, second = (a, b) if a.beat_pid() else (b, a)
        wait_for(lambda: '"beat.standby"' in second.output(), 30, what="the other candidate to stand by")
        wait_for(lambda: sent(first.output()) > 0, 30, what="the leader's beat to send")

        if whole_group:
            os.killpg(first.process.pid, signal.SIGSTOP)
        else:
            os.kill(first.process.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        new_beat = None
        while time.monotonic() - stopped_at < TAKEOVER_BOUND and new_beat is None:
            new_beat = second.beat_pid()
            time.sleep(0.05)
        assert new_beat is not None, f"no take-over within {TAKEOVER_BOUND}s\n{second.output()[-3000:]}"
        wait_for(lambda: sent(second.output()) > 0, 30, what="the new leader's beat to send")
        if not whole_group:  # the old beat ran on: it stops by itself, having seen its candidate lose the lock
            wait_for(lambda: not running(leader), 30, what="the old beat to stop")
        old_sent = sent(first.output())

        if whole_group:
            os.killpg(first.process.pid, signal.SIGCONT)
        else:
            os.kill(first.process.pid, signal.SIGCONT)
        wait_for(lambda: first.process.poll() is not None, 30, what="the old candidate to end")
        time.sleep(1)
        assert not running(leader)
        assert sent(first.output()) == old_sent, first.output()[-3000:]
        assert first.process.returncode == 1
        assert running(new_beat)
        assert second.process.poll() is None
    finally:
        for candidate in (a, b):
            if candidate.process.poll() is None:
                os.killpg(candidate.process.pid, signal.SIGCONT)
        a.stop()
        b.stop()
