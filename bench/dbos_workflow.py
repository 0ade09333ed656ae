"""DBOS Transact, the durable-workflow peer: one 20-step workflow per order, sequential, on SQLite or PostgreSQL.

Run by ``python -m bench`` with the separate bench venv (``requirements-bench.txt``); it never imports Django or
the project (only ``bench/arguments.py``, plain argparse checks). Each step is a DBOS datasource transaction that
inserts one row into an application table (the step's fact) and records the step's output in the same
transaction, the closest DBOS shape to one TPFGo checkpoint per step. Prints one JSON document: orders/s, p50,
p95, peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import uuid

from bench import arguments

STEPS = 20
CREATE = "CREATE TABLE IF NOT EXISTS bench_fact (id VARCHAR(64) PRIMARY KEY, ord VARCHAR(64), n INT)"
INSERT = "INSERT INTO bench_fact (id, ord, n) VALUES (:id, :ord, :n)"


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.dbos_workflow")
    parser.add_argument(
        "--database-url", type=arguments.database_url, required=True, help="sqlite:///path or postgresql://... (fresh)"
    )
    parser.add_argument("--orders", type=arguments.ORDERS, default=300)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)

    import sqlalchemy as sa
    from dbos import DBOS, SQLAlchemyDatasource

    url = args.database_url
    workdir = tempfile.mkdtemp(prefix="dbos-bench-")
    os.chdir(workdir)  # DBOS may write files next to the process; keep them out of the repository
    app = SQLAlchemyDatasource.create(url)
    with app.engine.begin() as conn:
        conn.execute(
            sa.text("CREATE TABLE IF NOT EXISTS bench_fact (id VARCHAR(64) PRIMARY KEY, ord VARCHAR(64), n INT)")
        )
    DBOS(config={"name": "tpfgo-bench", "system_database_url": url, "log_level": "WARNING"})

    @app.transaction()
    def record(order_id: str, n: int) -> str:
        fact_id = f"{order_id}:{n}"
        app.sql_session().execute(
            sa.text("INSERT INTO bench_fact (id, ord, n) VALUES (:id, :ord, :n)"),
            {"id": fact_id, "ord": order_id, "n": n},
        )
        return fact_id

    @DBOS.workflow()
    def order(order_id: str) -> int:
        for n in range(STEPS):
            record(order_id, n)
        return STEPS

    DBOS.launch()
    for _ in range(20):  # warm-up
        order(uuid.uuid4().hex)
    latencies = []
    start = time.perf_counter()
    for _ in range(args.orders):
        t0 = time.perf_counter()
        order(uuid.uuid4().hex)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    DBOS.destroy()
    latencies.sort()
    json.dump(
        {
            "orders_per_s": args.orders / elapsed,
            "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p95_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))] * 1000,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
