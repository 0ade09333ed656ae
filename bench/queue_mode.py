"""``python -m bench queue``: orders/s and latencies with 1 and 2 worker nodes, sync vs queue, and overload.

    python -m bench queue                  # 400 orders per figure, 16 clients, 30 s of overload
    python -m bench queue --quick          # 60 orders per figure, 4 clients, 8 s of overload
    python -m bench queue --modes sync --workers 1,2 --orders 1000

One fresh PostgreSQL database (created and dropped by the run), one Redis of the bench's own on a free port (the
broker), and for each figure fresh process groups: web nodes (gunicorn, gthread) and 1 or 2 worker nodes (Celery,
prefork), each in its own session. The mode comes from ``TPFGO_PUBLICATION_MODES`` (``*=sync`` or ``*=queue``).

- **Throughput** (closed loop): ``--clients`` clients place ``--orders`` orders with ``POST /api/v1/orders``,
  spread over the web nodes. Two latencies per order: to the answer, and to the completion of the whole chain
  (the order's last checkpoint-log row, read from the database afterwards, minus the time the client sent it).
  orders/s counts completed orders from the first send to the last completion.
- **Overload** (open loop): ``--overload-rate`` orders/s offered for ``--overload-seconds`` with a low backlog
  bound, while the web and worker groups' RSS and the open orders (placed, not yet terminal: read from the
  database) are sampled every second. Then the bench waits for the accepted orders to settle and checks that
  every 2xx order reached its terminal state and that every 429 stored nothing.

Beside each figure: the machine's CPU busy share (``/proc/stat``, every core) and the CPU seconds of the web
group, the worker groups and the database's backends of this run, and the load average at its start. Timings are
printed and written to ``bench/results/queue-<time>.json``, never asserted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import arguments
from bench.cluster import (
    MachineCpu,
    RedisNode,
    WebNode,
    WorkerNode,
    cpu_seconds,
    load_average,
    node_env,
    rss_mib,
)
from bench.ingest_harness import BIN, ORDER, ROOT, base_env, prepare

RESULTS = ROOT / "bench" / "results"
GROUPS = ("web", "worker", "db", "broker")  # the database's server processes of this run; the bench's own Redis
STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"queue bench [{time.monotonic() - STARTED:6.1f} s]: {message}", file=sys.stderr, flush=True)


@dataclass
class Sent:
    key: str
    sent: float  # wall clock (time.time): compared with the database's checkpoint times
    answered: float = 0.0
    status: int = 0
    order_id: str = ""


class Clients:
    """HTTP clients for the web nodes: one keep-alive connection per thread and node."""

    def __init__(self, ports: list[int], token: str) -> None:
        self.ports, self.token = ports, token
        self.local = threading.local()

    def place(self, key: str, index: int) -> Sent:
        """POST one order. A kept-alive connection the server closed meanwhile (gunicorn closes idle ones after 2 s)
        is retried once on a new connection with the same key, as any client of an idempotent API may."""
        port = self.ports[index % len(self.ports)]
        conns: dict[int, http.client.HTTPConnection] = self.local.__dict__.setdefault("conns", {})
        body = json.dumps(ORDER)
        headers = {"Authorization": f"Token {self.token}", "Content-Type": "application/json", "Idempotency-Key": key}
        sent = Sent(key, time.time())
        for _ in range(2):
            conn = conns.setdefault(port, http.client.HTTPConnection("127.0.0.1", port, timeout=120))
            try:
                conn.request("POST", "/api/v1/orders", body, headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                conns.pop(port).close()
                continue
            sent.status = response.status
            if response.status in (200, 201):
                sent.order_id = json.loads(data)["orderId"]
            break
        sent.answered = time.time()
        return sent

    def closed_loop(self, prefix: str, orders: int, clients: int) -> list[Sent]:
        """``clients`` threads place ``orders`` orders, each as soon as its previous one was answered."""
        answers: list[Sent] = []
        counter = iter(range(orders))
        lock = threading.Lock()

        def client() -> None:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                answer = self.place(f"{prefix}-{i:06d}", i)
                with lock:
                    answers.append(answer)

        run_threads(client, clients)
        return answers

    def open_loop(self, prefix: str, rate: float, seconds: float, threads: int) -> tuple[list[Sent], int]:
        """Order i is due at ``i / rate`` seconds and sent by the first free thread; an order still unsent when the
        ``seconds`` are over is not sent (every thread was waiting for an answer). The answers, and how many were
        due."""
        answers: list[Sent] = []
        due = int(rate * seconds)
        counter = iter(range(due))
        lock = threading.Lock()
        start = time.monotonic()

        def client() -> None:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None or time.monotonic() > start + seconds:
                    return
                time.sleep(max(0.0, start + i / rate - time.monotonic()))
                answer = self.place(f"{prefix}-{i:06d}", i)
                with lock:
                    answers.append(answer)

        run_threads(client, threads)
        return answers, due


def run_threads(target: Any, count: int) -> None:
    threads = [threading.Thread(target=target, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class Database:
    """Reads of the bench's own database (psycopg, autocommit), outside the processes measured."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.name = urlsplit(url).path.lstrip("/")

    def one(self, sql: str, *params: Any) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None

    def open_orders(self, prefix: str) -> int:
        """Orders placed (an order request stored) whose terminal state is not stored yet."""
        return int(
            self.one(
                "SELECT count(*) FROM order_request_orderrequest r WHERE r.idempotency_key LIKE %s AND NOT EXISTS "
                "(SELECT 1 FROM terminal_order_state_terminalorderstate t WHERE t.order_id = r.order_id)",
                prefix + "-%",
            )
        )

    def completions(self, prefix: str) -> dict[str, tuple[float, str | None]]:
        """Per idempotency key: the time of the order's last checkpoint-log row, and its terminal outcome."""
        rows = self.conn.execute(
            "SELECT r.idempotency_key, extract(epoch FROM max(l.created_at)), t.outcome "
            "FROM order_request_orderrequest r JOIN pipelines_checkpointlog l ON l.trace_id = r.trace_id "
            "LEFT JOIN terminal_order_state_terminalorderstate t ON t.order_id = r.order_id "
            "WHERE r.idempotency_key LIKE %s GROUP BY r.idempotency_key, t.outcome",
            (prefix + "-%",),
        ).fetchall()
        return {key: (float(last), outcome) for key, last, outcome in rows}

    def handoffs(self) -> int:
        """Hand-offs published to a queue and not consumed yet (the queue backlog admission bounds)."""
        return int(self.one("SELECT count(*) FROM pipelines_queuedhandoff"))

    def stored_keys(self, keys: list[str]) -> int:
        return int(self.one("SELECT count(*) FROM order_request_orderrequest WHERE idempotency_key = ANY(%s)", keys))

    def backend_pids(self) -> list[int]:
        """This database's server processes (the nodes' connections), for their CPU seconds."""
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (self.name,)
        )
        return [int(pid) for (pid,) in rows]


@dataclass
class Cpu:
    """CPU over one figure: the machine's busy share and each group's CPU seconds per second (cores used)."""

    started: MachineCpu
    load: float
    before: dict[int, float]  # per process: a process started during the figure counts from zero

    @classmethod
    def begin(cls, groups: dict[str, list[int]]) -> Cpu:
        before = {pid: cpu_seconds([pid]) for pids in groups.values() for pid in pids}
        return cls(MachineCpu.now(), load_average(), before)

    def end(self, groups: dict[str, list[int]], seconds: float) -> dict[str, float]:
        out = {"machine_busy": round(self.started.busy_share(MachineCpu.now()), 3), "load_at_start": self.load}
        for name, pids in groups.items():
            used = sum(cpu_seconds([pid]) - self.before.get(pid, 0.0) for pid in pids)
            out[f"{name}_s"] = round(used, 2)
            out[f"{name}_cores"] = round(used / seconds, 2) if seconds else 0.0
        return out


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


def latency_figures(answers: list[Sent], done: dict[str, tuple[float, str | None]]) -> dict[str, Any]:
    ok = [a for a in answers if a.status in (200, 201)]
    to_answer = [(a.answered - a.sent) * 1000 for a in ok]
    to_done = [(done[a.key][0] - a.sent) * 1000 for a in ok if a.key in done and done[a.key][1]]
    first = min(a.sent for a in answers)
    last_done = max((done[a.key][0] for a in ok if a.key in done and done[a.key][1]), default=first)
    last_answer = max(a.answered for a in answers)
    return {
        "orders": len(answers),
        "statuses": dict(Counter(str(a.status) for a in answers)),
        "outcomes": dict(Counter(str(done[a.key][1]) if a.key in done else "missing" for a in ok)),
        "answered_per_s": round(len(ok) / max(1e-9, last_answer - first), 1),
        "completed_per_s": round(len(to_done) / max(1e-9, last_done - first), 1),
        "answer_p50_ms": round(statistics.median(to_answer), 1) if to_answer else 0.0,
        "answer_p95_ms": round(quantile(to_answer, 0.95), 1),
        "done_p50_ms": round(statistics.median(to_done), 1) if to_done else 0.0,
        "done_p95_ms": round(quantile(to_done, 0.95), 1),
    }


class Cluster:
    """The web and worker nodes of one figure, all started with the same settings, stopped after it."""

    def __init__(self, bench: Bench, workers: int, label: str, **settings: str) -> None:
        env = node_env(bench.database_url, bench.broker_url, **settings)
        args, logs = bench.args, bench.workdir
        self.web = [WebNode(env, logs / f"{label}-web{i}.log", args.web_workers, args.web_threads)
                    for i in range(args.web_nodes)]  # fmt: skip
        self.workers = [WorkerNode(env, logs / f"{label}-worker{i}.log", i, args.concurrency) for i in range(workers)]
        self.stack = ExitStack()
        self.broker = bench.broker

    def __enter__(self) -> Cluster:
        for node in [*self.web, *self.workers]:
            node.start()
            self.stack.callback(node.stop)
        for node in [*self.web, *self.workers]:
            node.ready()
        say(f"{len(self.web)} web and {len(self.workers)} worker node(s) ready")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()
        say("nodes stopped")

    def ports(self) -> list[int]:
        return [node.port for node in self.web]

    def groups(self, db: Database) -> dict[str, list[int]]:
        return {
            "web": [pid for node in self.web for pid in node.pids()],
            "worker": [pid for node in self.workers for pid in node.pids()],
            "db": db.backend_pids(),
            "broker": self.broker.pids() if self.broker else [],
        }

    def rss(self) -> dict[str, float]:
        groups = {"web": self.web, "worker": self.workers}
        return {
            name: round(rss_mib([pid for node in nodes for pid in node.pids()]), 1) for name, nodes in groups.items()
        }


class Bench:
    """One run: its database, its broker, its token and its scratch folder."""

    def __init__(
        self, args: argparse.Namespace, database_url: str, broker: RedisNode | str, workdir: Path, token: str = ""
    ) -> None:
        """``token``: an ops token of a database already prepared (demo data loaded); without it, the database is
        migrated and prepared here."""
        self.args, self.database_url, self.workdir = args, database_url, workdir
        self.broker = broker if isinstance(broker, RedisNode) else None  # its CPU is counted when it is the bench's
        self.broker_url = broker.url if isinstance(broker, RedisNode) else broker
        self.token = token or prepare(database_url)
        self.db = Database(database_url)

    def settle(self, prefix: str, seconds: float) -> int:
        """Wait until no order of ``prefix`` is open (or ``seconds`` pass); the open orders left."""
        deadline = time.monotonic() + seconds
        while (left := self.db.open_orders(prefix)) and time.monotonic() < deadline:
            time.sleep(0.2)
        return left

    def throughput(self, mode: str, workers: int) -> dict[str, Any]:
        args = self.args
        prefix = f"{mode}-w{workers}-{uuid.uuid4().hex[:6]}"
        with Cluster(self, workers, prefix, TPFGO_PUBLICATION_MODES=f"*={mode}") as cluster:
            clients = Clients(cluster.ports(), self.token)
            clients.closed_loop(prefix + "-warm", args.clients * 2, args.clients)  # connections, imports, caches
            self.settle(prefix + "-warm", 120)
            cpu = Cpu.begin(cluster.groups(self.db))
            started = time.monotonic()
            answers = clients.closed_loop(prefix, args.orders, args.clients)
            say(f"{len(answers)} orders answered")
            open_left = self.settle(prefix, 300)
            say(f"settled ({open_left} open)")
            figures = {"mode": mode, "workers": workers, "open_left": open_left, "rss_mib": cluster.rss()}
            figures["cpu"] = cpu.end(cluster.groups(self.db), time.monotonic() - started)
        figures.update(latency_figures(answers, self.db.completions(prefix)))
        per_order = {group: figures["cpu"][f"{group}_s"] * 1000 / max(1, len(answers)) for group in GROUPS}
        figures["cpu_ms_per_order"] = round(sum(per_order.values()), 1)
        figures["cpu_ms_per_order_by_group"] = {group: round(ms, 1) for group, ms in per_order.items()}
        return figures

    def overload(self, mode: str, workers: int, rate: float) -> dict[str, Any]:
        """``rate`` orders/s offered for ``--overload-seconds`` with a low backlog bound; memory sampled each second."""
        args = self.args
        prefix = f"over-{mode}-w{workers}-{uuid.uuid4().hex[:6]}"
        settings = {"TPFGO_PUBLICATION_MODES": f"*={mode}", "TPFGO_QUEUE_BACKLOG_BOUND": str(args.overload_bound)}
        samples: list[dict[str, float]] = []
        stop = threading.Event()
        with Cluster(self, workers, prefix, **settings) as cluster:
            clients = Clients(cluster.ports(), self.token)
            clients.closed_loop(prefix + "-warm", args.clients, args.clients)
            self.settle(prefix + "-warm", 120)
            started = time.monotonic()

            def sample() -> None:

                db = Database(self.database_url)  # a connection of the sampler thread's own
                while not stop.wait(1.0):
                    row = {"t": round(time.monotonic() - started, 1), **cluster.rss()}
                    samples.append({**row, "open_orders": db.open_orders(prefix), "handoffs": db.handoffs()})

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            cpu = Cpu.begin(cluster.groups(self.db))
            answers, due = clients.open_loop(prefix, rate, args.overload_seconds, args.overload_threads)
            offered_s = time.monotonic() - started
            figures: dict[str, Any] = {"cpu": cpu.end(cluster.groups(self.db), offered_s)}
            open_left = self.settle(prefix, 300)
            stop.set()
            sampler.join(5)
        figures.update(self.overload_figures(prefix, answers, rate, offered_s, open_left, samples))
        figures["unsent"] = due - len(answers)
        figures.update(mode=mode, workers=workers)
        return figures

    def overload_figures(
        self, prefix: str, answers: list[Sent], rate: float, seconds: float, open_left: int, samples: list[Any]
    ) -> dict[str, Any]:
        done = self.db.completions(prefix)
        accepted = [a.key for a in answers if a.status in (200, 201)]
        refused = [a.key for a in answers if a.status == 429]
        figures = latency_figures(answers, done)
        figures.update(
            offered_per_s=rate,
            sent_per_s=round(len(answers) / seconds, 1),
            refused_share=round(len(refused) / max(1, len(answers)), 3),
            accepted=len(accepted),
            lost=sum(1 for key in accepted if not (key in done and done[key][1])),
            refused_but_stored=self.db.stored_keys(refused) if refused else 0,
            open_left=open_left,
            max_open_orders=max((s["open_orders"] for s in samples), default=0),
            max_handoffs=max((s["handoffs"] for s in samples), default=0),
            samples=samples,
        )
        for group in ("web", "worker"):
            series = [s[group] for s in samples]
            if series:
                figures[f"{group}_rss_mib"] = {"first": series[0], "max": max(series), "last": series[-1]}
        return figures


def cpu_text(cpu: dict[str, float]) -> str:
    groups = "/".join(f"{cpu.get(f'{group}_cores', 0):.2f}" for group in GROUPS)
    busy, load = cpu["machine_busy"] * 100, cpu["load_at_start"]
    return f"machine {busy:.0f}% busy, cores used {groups} (web/worker/db/broker), load at start {load:.1f}"


def rss_text(series: dict[str, float] | None) -> str:
    return "{first:.0f}→{max:.0f}→{last:.0f}".format(**series) if series else "-"


def render(report: dict[str, Any]) -> str:
    args = report["args"]
    lines = [
        f"\nqueue mode — PostgreSQL, Redis broker; {args['web_nodes']} web node(s) of {args['web_workers']} gunicorn "
        f"workers × {args['web_threads']} threads, worker nodes of {args['concurrency']} processes; "
        f"{args['orders']} orders from {args['clients']} clients; {report['cores']} cores",
        f"{'mode':6} {'worker nodes':>12} {'orders/s done':>14} {'answered/s':>11} {'answer p50/p95 ms':>18} "
        f"{'done p50/p95 ms':>16} {'CPU ms/order':>12} (web/worker/db/broker)  machine busy, load at start",
    ]
    for f in report["throughput"]:
        lines.append(
            f"{f['mode']:6} {f['workers']:>12} {f['completed_per_s']:>14,.1f} {f['answered_per_s']:>11,.1f} "
            f"{f['answer_p50_ms']:>8.0f} / {f['answer_p95_ms']:<7.0f} "
            f"{f['done_p50_ms']:>6.0f} / {f['done_p95_ms']:<7.0f} {f['cpu_ms_per_order']:>12.0f} "
            f"({'/'.join(f'{ms:.0f}' for ms in f['cpu_ms_per_order_by_group'].values())})  "
            f"{f['cpu']['machine_busy'] * 100:.0f}%, {f['cpu']['load_at_start']:.1f}"
        )
    for f in report["overload"]:
        lines += [
            f"overload, {f['mode']} mode, {f['workers']} worker node(s), queue backlog bound {args['overload_bound']}: "
            f"offered {f['offered_per_s']:.1f}/s for {args['overload_seconds']:.0f} s, sent {f['sent_per_s']:.1f}/s"
            + (f" ({f['unsent']} unsent: every client thread was waiting for an answer)" if f["unsent"] else ""),
            f"  429 {f['refused_share'] * 100:.1f}%, accepted {f['accepted']}, completed {f['completed_per_s']:.1f}/s, "
            f"answer p50/p95 {f['answer_p50_ms']:.0f}/{f['answer_p95_ms']:.0f} ms, done p50/p95 "
            f"{f['done_p50_ms']:.0f}/{f['done_p95_ms']:.0f} ms; max open orders {f['max_open_orders']}, max hand-offs "
            f"waiting {f['max_handoffs']}",
            f"  RSS MiB (first→max→last sample) web {rss_text(f.get('web_rss_mib'))}, workers "
            f"{rss_text(f.get('worker_rss_mib'))}; accepted but lost {f['lost']}, refused but stored "
            f"{f['refused_but_stored']}; CPU {cpu_text(f['cpu'])}",
        ]
    if report.get("note"):
        lines.append(report["note"])
    return "\n".join(lines)


def queue_mode_available(database_url: str) -> bool:
    """Whether this code knows the queue publication mode (it ships ``manage.py queues``)."""
    done = subprocess.run([str(BIN / "python"), "manage.py", "help", "queues"], cwd=ROOT,
                          env=base_env(database_url), capture_output=True, check=False)  # fmt: skip
    return done.returncode == 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench queue", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--orders", type=arguments.ORDERS, default=400, help="orders per throughput figure")
    p.add_argument("--clients", type=arguments.PROCESSES, default=16, help="concurrent clients (closed loop)")
    p.add_argument("--modes", type=arguments.names("sync", "queue"), default="sync,queue")
    p.add_argument(
        "--workers", type=arguments.counts(1, arguments.MAX_PROCESSES), default="1,2", help="worker node counts"
    )
    p.add_argument("--web-nodes", type=arguments.PROCESSES, default=1)
    p.add_argument("--web-workers", type=arguments.PROCESSES, default=2, help="gunicorn workers per web node")
    p.add_argument("--web-threads", type=arguments.PROCESSES, default=8)
    p.add_argument("--concurrency", type=arguments.PROCESSES, default=2, help="Celery processes per worker node")
    p.add_argument("--overload-seconds", type=arguments.SECONDS, default=30)
    p.add_argument(
        "--overload-factor",
        type=arguments.number(0, 100),
        default=3.0,
        help="offered load ÷ the mode's measured orders/s",
    )
    p.add_argument("--overload-threads", type=arguments.PROCESSES, default=32)
    p.add_argument(
        "--overload-bound", type=arguments.ORDERS, default=20, help="TPFGO_QUEUE_BACKLOG_BOUND during the overload"
    )
    p.add_argument("--no-overload", action="store_true")
    p.add_argument("--pg-url", type=arguments.server_url, default=arguments.server_default())
    p.add_argument("--broker-url", help="an existing broker instead of a Redis of the bench's own")
    p.add_argument("--logs", type=Path, help="keep the nodes' logs in this folder (default: a temporary one)")
    p.add_argument("--quick", action="store_true", help="60 orders, 4 clients, 8 s of overload")
    return p


def run(args: argparse.Namespace) -> dict[str, Any]:
    import psycopg

    name = f"tpfgo_qbench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database_url = arguments.with_database(args.pg_url, name)
    report: dict[str, Any] = {"args": vars(args), "cores": os_cores(), "throughput": [], "overload": []}
    try:
        with ExitStack() as stack:
            workdir = args.logs or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tpfgo-qbench-")))
            workdir.mkdir(parents=True, exist_ok=True)
            broker = args.broker_url or stack.enter_context(RedisNode(workdir))
            bench = Bench(args, database_url, broker, workdir)
            say(f"database {name} prepared, broker {bench.broker_url}")
            stack.callback(bench.db.conn.close)
            report["rounds"] = measure(bench, args, report)
        say("broker stopped")
    finally:
        with psycopg.connect(args.pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        say(f"database {name} dropped")
    return report


def measure(bench: Bench, args: argparse.Namespace, report: dict[str, Any]) -> int:
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if "queue" in modes and not queue_mode_available(bench.database_url):
        modes.remove("queue")
        report["note"] = "queue mode: not in this code (no manage.py queues); only the sync figures were measured"
    for mode in modes:
        for workers in [int(w) for w in args.workers.split(",") if w.strip()]:
            say(f"{mode}, {workers} worker node(s) …")
            report["throughput"].append(bench.throughput(mode, workers))
    if not args.no_overload:
        for mode in modes:
            measured = [f["completed_per_s"] for f in report["throughput"] if f["mode"] == mode and f["workers"] == 1]
            rate = args.overload_factor * (measured[0] if measured else 50.0)
            say(f"overload, {mode}, {rate:.0f} orders/s offered …")
            report["overload"].append(bench.overload(mode, 1, rate))
    return len(report["throughput"]) + len(report["overload"])


def os_cores() -> int:
    return os.cpu_count() or 0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    if args.quick:
        args.orders, args.clients, args.overload_seconds = 60, 4, 8.0
    started = time.monotonic()
    report = run(args)
    report["seconds"] = round(time.monotonic() - started, 1)
    print(render(report), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"queue-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    print(f"queue bench: {report['seconds']} s; wrote {path.relative_to(ROOT)}", flush=True)
    return report


if __name__ == "__main__":
    main()
