"""NDJSON ingest against a real gunicorn process: stream N orders, sample the server's memory, read its gauges.

Shared by ``bench.ingest_backpressure`` (20,000 orders) and the 2,000-order test. The server is one gunicorn
worker (gthread), so its RSS is one process's; the client is full duplex (a sender thread uploads a chunked body
while the answers are read), as a streaming client must be: a client that sends everything before reading would
deadlock against any server that answers as it goes once the socket buffers fill.
"""

from __future__ import annotations

import atexit
import functools
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ORDER = {
    "consumerId": "alice",
    "restaurantId": "pizza-roma",
    "items": [{"menuItemId": "margherita", "quantity": 2}],
    "deliveryAddress": {"street1": "1 Main St", "city": "Oakland", "state": "CA", "zip": "94612"},
}
TOKEN_SCRIPT = (  # an ops principal: unbound, so one stream may carry any consumer's orders
    "from access.tokens import ensure_token\nprint('TOKEN', ensure_token(kind='ops', name='bench').key)\n"
)
COUNT_SCRIPT = (
    "import json\n"
    "from django.db.models import Count\n"
    "from checkout.order_request.models import OrderRequest\n"
    "from checkout.terminal_order_state.models import TerminalOrderState\n"
    "from pipelines.models import CheckpointLog, ErrorSinkEntry, ParkedItem\n"
    "per = CheckpointLog.objects.values('trace_id').annotate(n=Count('seq')).values_list('n', flat=True)\n"
    "print('COUNTS', json.dumps({'order_requests': OrderRequest.objects.count(),\n"
    "    'terminal_states': TerminalOrderState.objects.count(), 'log_rows': CheckpointLog.objects.count(),\n"
    "    'error_sink_entries': ErrorSinkEntry.objects.count(), 'parked': ParkedItem.objects.count(),\n"
    "    'log_rows_per_order': sorted(set(per))}))\n"
)


@functools.cache
def var_dir() -> str:
    """The ``TPFGO_VAR_DIR`` of every process a bench starts (the filesystem broker, static files, beat's schedule):
    one temporary folder per bench process, removed when it exits, so a bench writes nothing into the checkout."""
    folder = tempfile.mkdtemp(prefix="tpfgo-bench-var-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def base_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TPFGO_", "DJANGO_"))}
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="tpfgo_site.settings",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
        TPFGO_VAR_DIR=var_dir(),
    )
    env.update(extra)
    return env


def manage(database_url: str, *args: str, marker: str | None = None) -> str:
    done = subprocess.run(
        [str(BIN / "python"), "manage.py", *args],
        cwd=ROOT,
        env=base_env(database_url),
        capture_output=True,
        text=True,
        check=True,
    )
    if marker is None:
        return done.stdout
    return next(line.split(" ", 1)[1] for line in done.stdout.splitlines() if line.startswith(marker + " "))


def prepare(database_url: str, *, migrate: bool = True) -> str:
    """Migrate (optionally), load the demo data and return an API token."""
    if migrate:
        manage(database_url, "migrate", "--noinput", "-v", "0")
    manage(database_url, "load_demo")
    return manage(database_url, "shell", "-c", TOKEN_SCRIPT, marker="TOKEN")


def counts(database_url: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(manage(database_url, "shell", "-c", COUNT_SCRIPT, marker="COUNTS"))
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """One gunicorn master with one gthread worker serving the project; its log goes to ``log_path``."""

    def __init__(self, database_url: str, log_path: Path, threads: int = 4, **settings: str) -> None:
        self.port = free_port()
        self.env = base_env(database_url, **settings)
        self.log_path = log_path
        self.threads = threads
        self.process: subprocess.Popen[bytes] | None = None
        self.worker_pid = 0

    def __enter__(self) -> Server:
        command = [
            str(BIN / "gunicorn"), "tpfgo_site.wsgi", "--bind", f"127.0.0.1:{self.port}", "--workers", "1",
            "--worker-class", "gthread", "--threads", str(self.threads), "--timeout", "120",
        ]  # fmt: skip
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: see {self.log_path}")
            try:
                if self.get("/healthz")[0] == 200:
                    self.worker_pid = self._worker()
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer /healthz within 60 s")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _worker(self) -> int:
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return int(children[0])

    def memory_kib(self) -> tuple[int, int]:
        """The worker's (VmRSS, VmHWM) in KiB, from /proc."""
        lines = Path(f"/proc/{self.worker_pid}/status").read_text().splitlines()
        fields = dict(line.split(":", 1) for line in lines if ":" in line)
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])

    def get(self, path: str) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()


@dataclass
class Figures:
    orders: int
    seconds: float = 0.0
    orders_per_second: float = 0.0
    status: int = 0
    rss_at_100_mib: float = 0.0
    peak_at_100_mib: float = 0.0
    peak_at_end_mib: float = 0.0
    peak_growth_mib: float = 0.0
    max_buffer_queued: float = 0.0  # the most seen queued at a scrape (every 0.25 s)
    buffer_peak: float = 0.0  # the most the buffer ever held (its own high-water mark)
    buffer_capacity: float = 0.0
    max_inflight: float = 0.0
    max_lines_in_flight: int = 0
    states: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def report(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def order_lines(n: int, prefix: str) -> Iterator[bytes]:
    for i in range(n):
        yield json.dumps({"idempotencyKey": f"{prefix}-{i}", "order": ORDER}).encode() + b"\n"


_GAUGE = re.compile(r"^(tpfgo_stream_(?:buffer_queued|buffer_capacity|buffer_peak|inflight))\{([^}]*)\} (\S+)$")


def _gauges(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        match = _GAUGE.match(line)
        if match and 'stream="ingest"' in match.group(2):
            out[match.group(1)] = out.get(match.group(1), 0.0) + float(match.group(3))
    return out


def stream(server: Server, token: str, lines: Iterable[bytes], figures: Figures) -> Iterator[dict[str, Any]]:
    """POST the lines as a chunked NDJSON body from a sender thread; yield each answer as it arrives."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    conn.putrequest("POST", "/api/v1/orders/ingest")
    conn.putheader("Authorization", f"Token {token}")
    conn.putheader("Content-Type", "application/x-ndjson")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    sent = [0]

    def send() -> None:
        try:
            chunk: list[bytes] = []
            for line in lines:
                chunk.append(line)
                if len(chunk) == 16:
                    data = b"".join(chunk)
                    conn.send(b"%x\r\n%s\r\n" % (len(data), data))
                    sent[0] += len(chunk)
                    chunk = []
            data = b"".join(chunk)
            if data:
                conn.send(b"%x\r\n%s\r\n" % (len(data), data))
                sent[0] += len(chunk)
            conn.send(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered (e.g. 429) without reading the body

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    response = conn.getresponse()
    figures.status = response.status
    answered = 0
    try:
        for raw in response:
            answered += 1
            figures.max_lines_in_flight = max(figures.max_lines_in_flight, sent[0] - answered)
            yield json.loads(raw)
    finally:
        conn.close()
        sender.join(5)


def run(server: Server, token: str, orders: int, prefix: str = "bench") -> Figures:
    """Stream ``orders`` orders through one ingest stream; sample memory and gauges while it runs."""
    figures = Figures(orders)
    stop = threading.Event()

    def watch_gauges() -> None:
        while not stop.wait(0.25):
            try:
                gauges = _gauges(server.get("/metrics")[1])
            except OSError:
                continue
            figures.max_buffer_queued = max(figures.max_buffer_queued, gauges.get("tpfgo_stream_buffer_queued", 0))
            figures.buffer_peak = max(figures.buffer_peak, gauges.get("tpfgo_stream_buffer_peak", 0))
            figures.buffer_capacity = max(figures.buffer_capacity, gauges.get("tpfgo_stream_buffer_capacity", 0))
            figures.max_inflight = max(figures.max_inflight, gauges.get("tpfgo_stream_inflight", 0))

    poller = threading.Thread(target=watch_gauges, daemon=True)
    poller.start()
    states: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    started = time.perf_counter()
    try:
        for count, answer in enumerate(stream(server, token, order_lines(orders, prefix), figures), 1):
            if "error" in answer:
                errors[answer["error"]["code"]] += 1
            else:
                states[answer["state"]] += 1
            if count == 100:
                rss, hwm = server.memory_kib()
                figures.rss_at_100_mib, figures.peak_at_100_mib = rss / 1024, hwm / 1024
    finally:
        stop.set()
        poller.join(5)
    figures.seconds = round(time.perf_counter() - started, 2)
    figures.orders_per_second = round(orders / figures.seconds, 1) if figures.seconds else 0.0
    figures.peak_at_end_mib = server.memory_kib()[1] / 1024
    figures.peak_growth_mib = round(figures.peak_at_end_mib - figures.peak_at_100_mib, 2)
    figures.states, figures.errors = dict(states), dict(errors)
    return figures
