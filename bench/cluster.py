"""Process groups for the queue-mode bench (``bench/queue_mode.py``): a Redis of its own, web nodes, worker nodes.

Every node is started in a session of its own (``start_new_session``), so its memory and CPU are summed over
every process of that session (gunicorn's master and workers, Celery's master and pool), and stopping it
signals that session only. Figures come from ``/proc``: ``VmRSS`` per process, ``utime + stime`` per process,
the machine's busy share from ``/proc/stat``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.ingest_harness import BIN, ROOT, base_env, free_port

TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses


def session_pids(sid: int) -> list[int]:
    """Every live process whose session is ``sid``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _stat_fields(int(entry))
        except (OSError, ValueError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # fields[3]: the session id (stat's sixth field)
            pids.append(int(entry))
    return pids


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


@dataclass
class MachineCpu:
    """The machine's CPU counters (``/proc/stat``): busy and total ticks over every core."""

    busy: int
    total: int

    @classmethod
    def now(cls) -> MachineCpu:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = values[3] + values[4]  # idle, iowait
        return cls(sum(values) - idle, sum(values))

    def busy_share(self, later: MachineCpu) -> float:
        """The busy share of every core between this reading and ``later`` (1.0: every core saturated)."""
        return (later.busy - self.busy) / max(1, later.total - self.total)


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


class Node:
    """One process group: started in its own session, stopped by signalling that session."""

    name = "node"

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.command, self.env, self.log_path = command, env, log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def pids(self) -> list[int]:
        return session_pids(self.process.pid) if self.process else []

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # pool processes whose master already exited
        except ProcessLookupError:
            pass
        if self.process.poll() is None:
            self.process.wait()

    def wait_for(self, ready: str, seconds: float = 90) -> None:
        """Until ``ready`` appears in the node's log (the node exiting first, or the time running out, fails)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited: see {self.log_path}")
            if ready in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready within {seconds} s: see {self.log_path}")


class RedisNode(Node):
    """A redis-server of the bench's own on a free port: no persistence, the shared Redis is never touched."""

    name = "redis"

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly",
                   "no", "--dir", str(workdir)]  # fmt: skip
        super().__init__(command, dict(os.environ), workdir / "redis.log")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> RedisNode:
        self.start()
        self.wait_for("Ready to accept connections", 30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class WebNode(Node):
    """One gunicorn master (gthread workers) on a free port."""

    name = "web"

    def __init__(self, env: dict[str, str], log_path: Path, workers: int, threads: int) -> None:
        self.port = free_port()
        command = [
            str(BIN / "gunicorn"), "tpfgo_site.wsgi", "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
            "--worker-class", "gthread", "--threads", str(threads), "--timeout", "120", "--log-level", "info",
        ]  # fmt: skip
        super().__init__(command, env, log_path)
        self.workers = workers

    def ready(self) -> None:
        self.wait_for("Booting worker", 60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # every worker booted (the master plus one process per worker)
            if len(self.pids()) >= self.workers + 1:
                return
            time.sleep(0.2)
        raise RuntimeError(f"web node: workers did not boot, see {self.log_path}")


class WorkerNode(Node):
    """One Celery worker (a master and its prefork pool); without ``-Q`` it consumes every declared queue."""

    name = "worker"

    def __init__(self, env: dict[str, str], log_path: Path, index: int, concurrency: int) -> None:
        command = [
            str(BIN / "celery"), "-A", "tpfgo_site", "worker", "--concurrency", str(concurrency), "--loglevel",
            "INFO", "--hostname", f"bench{index}@%h", "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        super().__init__(command, env, log_path)

    def ready(self) -> None:
        self.wait_for(" ready", 90)  # Celery logs "bench1@host ready." once it consumes


def node_env(database_url: str, broker_url: str, **settings: str) -> dict[str, str]:
    return base_env(database_url, CELERY_BROKER_URL=broker_url, **settings)
