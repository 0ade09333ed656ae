"""``python -m bench ingest``: the ingest streams end to end against the in-process batched path, same run.

    python -m bench ingest                                # 2,000 orders per figure, SQLite and PostgreSQL, 2 rounds
    python -m bench ingest --orders 5000 --backends postgres --rounds 3
    python -m bench ingest --results /tmp/out             # the JSON there instead of bench/results/

For each backend one database is prepared (migrated, demo data, an ops token) and copied before every figure, so
each figure starts from the same empty tables. The figures, all with the default (instant) payment gateway:

- ``inprocess_batched``: ``checkout.bulk.place_orders`` in one process, 500 orders per call (as ``make bench``'s
  batched figure);
- ``http_batched`` / ``http_single``: one NDJSON stream over ``POST /api/v1/orders/ingest`` on one gunicorn
  worker (gthread), with ``TPFGO_INGEST_BATCH`` at its default (micro-batches through the batched path) and at 1
  (each line through the single path, as before micro-batches);
- ``grpc_batched`` / ``grpc_single``: the same over gRPC ``OrderService/IngestOrders`` (``manage.py grpcrunserver``).

Rounds alternate the order of the figures; the table gives the median orders/s of the rounds with their range, and
each figure's ratio to the in-process batched figure of the same round (median of the per-round ratios). Every
answer must be ``COMPLETED``: a figure whose answers are not is reported as failed. Writes
``bench/results/ingest-<time>.json``. Each process first places 20 orders of its own (not timed), so a figure
is the steady state, not the first request's imports. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import arguments
from bench.ingest_harness import BIN, ORDER, ROOT, Figures, Server, base_env, free_port, manage, prepare, run

SYSTEMS = [
    ("inprocess_batched", "in-process batched (place_orders, 500/call)"),
    ("http_batched", "NDJSON over HTTP, micro-batches (default)"),
    ("http_single", "NDJSON over HTTP, one line at a time (BATCH=1)"),
    ("grpc_batched", "gRPC IngestOrders, micro-batches (default)"),
    ("grpc_single", "gRPC IngestOrders, one line at a time (BATCH=1)"),
]
WARM = 20  # orders each process places before its figure is timed (imports, first connections, caches)
INPROCESS = (
    "import json, time\n"
    "from checkout import bulk\n"
    "order = json.loads({order!r})\n"
    "batch = [(order, f'{prefix}-{{i}}') for i in range({orders})]\n"
    "bulk.place_orders([(order, f'warm-{{i}}') for i in range({warm})], views=False)\n"
    "started = time.perf_counter()\n"
    "answers = [a for s in range(0, len(batch), 500) for a in bulk.place_orders(batch[s:s + 500], views=False)]\n"
    "seconds = time.perf_counter() - started\n"
    "states = [getattr(a, 'view', {{}}).get('state', type(a).__name__) for a in answers]\n"
    "print('RESULT', json.dumps({{'seconds': seconds, 'states': dict(__import__('collections').Counter(states))}}))\n"
)


class Databases:
    """One prepared database per backend, copied before each figure (SQLite: the backup API; PostgreSQL: a template)."""

    def __init__(self, backend: str, pg_url: str, workdir: Path) -> None:
        self.backend, self.pg_url, self.workdir, self.copies = backend, pg_url, workdir, 0
        self.name = f"tpfgo_bench_ingest_{uuid.uuid4().hex[:6]}"  # runs side by side on one server
        if backend == "sqlite":
            self.template = f"sqlite:///{workdir / 'template.sqlite3'}"
        else:
            self._admin(f"CREATE DATABASE {self.name}_tpl")
            self.template = arguments.with_database(pg_url, f"{self.name}_tpl")
        try:
            self.token = prepare(self.template)
        except BaseException:
            self.drop()
            raise

    def _admin(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def fresh(self) -> str:
        """A copy of the prepared database: its URL."""
        self.copies += 1
        if self.backend == "sqlite":
            path = self.workdir / f"copy-{self.copies}.sqlite3"
            with sqlite3.connect(self.workdir / "template.sqlite3") as source, sqlite3.connect(path) as target:
                source.backup(target)
            return f"sqlite:///{path}"
        self._admin(f"DROP DATABASE IF EXISTS {self.name}", f"CREATE DATABASE {self.name} TEMPLATE {self.name}_tpl")
        return arguments.with_database(self.pg_url, self.name)

    def drop(self) -> None:
        if self.backend == "postgres":
            self._admin(f"DROP DATABASE IF EXISTS {self.name}", f"DROP DATABASE IF EXISTS {self.name}_tpl")


def inprocess(url: str, orders: int) -> dict[str, Any]:
    script = INPROCESS.format(order=json.dumps(ORDER), prefix="inproc", orders=orders, warm=WARM)
    result: dict[str, Any] = json.loads(manage(url, "shell", "-c", script, marker="RESULT"))
    return {"orders_per_s": orders / result["seconds"], "seconds": result["seconds"], "states": result["states"]}


def http(url: str, token: str, orders: int, batch: int | None, log: Path) -> dict[str, Any]:
    settings = {"TPFGO_INGEST_BATCH": str(batch)} if batch else {}
    with Server(url, log, **settings) as server:
        run(server, token, WARM, prefix="warm")
        figures: Figures = run(server, token, orders, prefix="http")
    states = {**figures.states, **figures.errors}
    return {"orders_per_s": figures.orders_per_second, "seconds": figures.seconds, "states": states}


def grpc_requests(orders: int, prefix: str) -> Iterator[Any]:
    from google.protobuf import json_format

    from checkout.protos import orders_pb2

    body = json_format.ParseDict(ORDER, orders_pb2.CreateOrderRequest())
    for i in range(orders):
        yield orders_pb2.IngestOrdersRequest(idempotency_key=f"{prefix}-{i}", order=body)


def grpc_stream(url: str, token: str, orders: int, batch: int | None, log: Path) -> dict[str, Any]:
    import grpc

    from checkout.protos import orders_pb2_grpc

    port = free_port()
    env = base_env(url, **({"TPFGO_INGEST_BATCH": str(batch)} if batch else {}))
    command = [str(BIN / "python"), "manage.py", "grpcrunserver", f"127.0.0.1:{port}", "--max-workers", "16"]
    with open(log, "wb") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=60)
        stub = orders_pb2_grpc.OrderServiceStub(channel)
        metadata = [("authorization", f"Token {token}")]
        for _ in stub.IngestOrders(grpc_requests(WARM, "warm"), metadata=metadata):
            pass
        states: Counter[str] = Counter()
        started = time.perf_counter()
        for answer in stub.IngestOrders(grpc_requests(orders, "grpc"), metadata=metadata):
            states[answer.error.code if answer.HasField("error") else answer.state] += 1
        seconds = time.perf_counter() - started
        channel.close()
    finally:
        server.terminate()
        server.wait(30)
    return {"orders_per_s": orders / seconds, "seconds": seconds, "states": dict(states)}


def measure(name: str, databases: Databases, orders: int, workdir: Path) -> dict[str, Any]:
    url, log = databases.fresh(), workdir / f"{name}.log"
    batch = 1 if name.endswith("_single") else None
    if name == "inprocess_batched":
        return inprocess(url, orders)
    if name.startswith("http"):
        return http(url, databases.token, orders, batch, log)
    return grpc_stream(url, databases.token, orders, batch, log)


def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> list[dict[str, dict[str, Any]]]:
    databases = Databases(backend, args.pg_url, workdir)
    rounds = []
    try:
        for number in range(args.rounds):
            names = [name for name, _ in SYSTEMS]
            figures = {}
            for name in names if number % 2 == 0 else [names[0], *reversed(names[1:])]:
                print(f"  {backend} round {number + 1}: {name}", file=sys.stderr, flush=True)
                figures[name] = measure(name, databases, args.orders, workdir)
            rounds.append(figures)
    finally:
        databases.drop()
    return rounds


def render(backend: str, orders: int, rounds: list[dict[str, dict[str, Any]]]) -> str:
    lines = [f"\n{backend} — {orders:,} orders per figure, {len(rounds)} round(s), load {os.getloadavg()[0]:.2f}"]
    lines.append(f"{'system':50} {'orders/s (range)':>20} {'×in-process':>12} {'answers':>20}")
    for name, label in SYSTEMS:
        rates = [r[name]["orders_per_s"] for r in rounds]
        ratios = [r[name]["orders_per_s"] / r["inprocess_batched"]["orders_per_s"] for r in rounds]
        states = Counter[str]()
        for r in rounds:
            states.update(r[name]["states"])
        ok = "all COMPLETED" if set(states) == {"COMPLETED"} else f"FAILED {dict(states)}"
        rate = f"{statistics.median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f})"
        lines.append(f"{label:50} {rate:>20} {statistics.median(ratios):>12.2f} {ok:>20}")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench ingest", description=__doc__)
    parser.add_argument("--orders", type=arguments.ORDERS, default=2000)
    parser.add_argument("--rounds", type=arguments.REPEATS, default=2)
    parser.add_argument("--results", default=str(ROOT / "bench" / "results"), help="the folder the JSON is written to")
    parser.add_argument("--backends", type=arguments.BACKENDS, default="sqlite,postgres")
    parser.add_argument(
        "--pg-url",
        type=arguments.server_url,
        default=arguments.server_default(),
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    report: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "args": vars(args), "backends": {}}
    failed = False
    with tempfile.TemporaryDirectory(prefix="tpfgo-bench-ingest-") as tmp:
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            workdir = Path(tmp) / backend
            workdir.mkdir()
            rounds = run_backend(backend, args, workdir)
            report["backends"][backend] = {"rounds": rounds, "load": os.getloadavg()}
            text = render(backend, args.orders, rounds)
            failed = failed or "FAILED" in text
            print(text, flush=True)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"ingest-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 1 if failed else 0
