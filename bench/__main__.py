"""``python -m bench`` (or ``make bench``): TPFGo against the physical floor and its peers, SQLite and PostgreSQL.

One run, fresh databases: for each backend a subprocess (its own ``DATABASE_URL``) runs ``bench.backend`` at each
history level (0, 10,000 and 100,000 orders already stored), and, if the separate bench venv exists
(``.venv-bench``, from ``requirements-bench.txt``), DBOS Transact runs its 20-step workflow per order on a fresh
database of the same backend. Prints a table (orders/s as the median of the repeats with their range, the ratio
to the floor (the fastest raw way of writing the same rows), p50/p95 latencies, peak RSS) and writes
``bench/results/bench-<time>.json`` with its chart beside it (``.svg``, ``bench/chart.py``). After PostgreSQL, the
queue-mode figures (``bench/queue_mode.py``, 200 orders per figure and 20 s of overload; ``--no-queue`` skips them).

    python -m bench                       # 1,000 orders per bulk figure, 300 per single-order figure, 3 repeats
    python -m bench --quick               # a smoke run: 200/50 orders, 1 repeat, no history levels
    python -m bench --orders 2000 --levels 0,100000 --backends postgres
    python -m bench --results /tmp/out        # the JSON and its chart there instead of bench/results/
    python -m bench dashboard             # /ops/ with 1,000,000 orders in the last 7 days (bench/dashboard.py)
    python -m bench purge                 # ingest p95 beside a purge of 100,000 orders, table sizes (bench/purge.py)
    python -m bench ingest                # NDJSON and gRPC ingest vs the in-process batched path (bench/ingest.py)
    python -m bench sweep                 # one sweeper pass at 0, 200,000, 1,000,000 orders (bench/sweep.py)
    python -m bench knee                  # K processes replaying one order's statements on PostgreSQL (bench/knee.py)
    python -m bench queue                 # sync vs queue mode, 1 and 2 worker nodes, overload (bench/queue_mode.py)
    python -m bench durability            # single order: every commit flushed vs durable at the boundary, paired
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import arguments, chart

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
SYSTEMS = [
    ("raw_floor", "the floor: the fastest raw row below"),
    ("raw_copy", "raw SQL, one transaction, COPY per table"),
    ("raw_copy_binary", "raw SQL, one transaction, binary COPY per table"),
    ("raw_multirow", "raw SQL, one transaction, multi-row INSERT"),
    ("raw_executemany", "raw SQL, one transaction, executemany"),
    ("raw_per_order", "raw SQL, one transaction per order"),
    ("naive_orm", "naive ORM, objects.create per row, tx per order"),
    ("tpfgo_single", "TPFGo single 01→08 (per-step tx, flush every commit)"),
    ("tpfgo_single_pipeline_tx", "TPFGo single order 01→08 (per-pipeline tx)"),
    ("tpfgo_single_boundary", "TPFGo single 01→08 (per-step, durable at boundary)"),
    ("tpfgo_batch", "TPFGo batched stream (place_orders, 500/batch)"),
    ("dbos", "DBOS Transact, 20-step workflow per order"),
]


def _pg_admin(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def default_pg_db() -> str:
    """``BENCH_PG_DB``, or a name of this run's own: two runs side by side on one server never drop each other's."""
    return os.environ.get("BENCH_PG_DB") or f"tpfgo_bench_{uuid.uuid4().hex[:6]}"


def _with_db(url: str, name: str) -> str:
    return arguments.with_database(url, name)


def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'tpfgo_bench.sqlite3'}"
    else:
        url = _with_db(args.pg_url, args.pg_db)
        _pg_admin(args.pg_url, f"DROP DATABASE IF EXISTS {args.pg_db}", f"CREATE DATABASE {args.pg_db}")
    env = {**os.environ, "DATABASE_URL": url, "TPFGO_VAR_DIR": str(workdir / "var"), "LOG_LEVEL": "WARNING"}
    command = [
        sys.executable,
        "-m",
        "bench.backend",
        "--orders",
        str(args.orders),
        "--single-orders",
        str(args.single_orders),
        "--repeat",
        str(args.repeat),
        "--levels",
        args.levels,
    ]
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    finally:
        if backend == "postgres":
            _pg_admin(args.pg_url, f"DROP DATABASE IF EXISTS {args.pg_db}")
    if done.returncode != 0:
        raise SystemExit(f"bench.backend failed on {backend}:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    result["dbos"] = run_dbos(backend, args, workdir)
    return result


def run_dbos(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    if args.no_dbos:
        return {"skipped": "not measured (--no-dbos)"}
    if not BENCH_PYTHON.exists():
        return {
            "skipped": "no bench venv: python3.11 -m venv .venv-bench && .venv-bench/bin/pip install -r "
            "requirements-bench.txt"
        }
    runs, errors = [], []
    for n in range(args.repeat):
        if backend == "sqlite":
            url = f"sqlite:///{workdir / f'dbos_{n}.sqlite3'}"
        else:
            url = _with_db(args.pg_url, f"{args.pg_db}_dbos").replace("postgres://", "postgresql://")
            _pg_admin(args.pg_url, f"DROP DATABASE IF EXISTS {args.pg_db}_dbos", f"CREATE DATABASE {args.pg_db}_dbos")
        command = [
            str(BENCH_PYTHON),
            "-m",
            "bench.dbos_workflow",
            "--database-url",
            url,
            "--orders",
            str(args.single_orders),
        ]
        try:
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=1800)
        finally:
            if backend == "postgres":
                _pg_admin(args.pg_url, f"DROP DATABASE IF EXISTS {args.pg_db}_dbos")
        if done.returncode == 0:
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        else:
            errors.append(done.stderr[-2000:])
    return {"runs": runs, "errors": errors}


def summarize(runs: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for field in ("orders_per_s", "x_floor", "p50_ms", "p95_ms", "rss_mb"):
        values = [r[field] for r in runs if field in r]
        if values:
            out[field] = statistics.median(values)
            out[field + "_min"], out[field + "_max"] = min(values), max(values)
    return out


def table(result: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """Median figures per level and system."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for level, data in result["levels"].items():
        runs = data["runs"]
        out[level] = {
            name: summarize([run[name] for run in runs])
            for name, _ in SYSTEMS
            if name != "dbos" and all(name in run for run in runs)  # durable at the boundary: PostgreSQL only
        }
    if result["dbos"].get("runs"):
        out.setdefault("0", {})["dbos"] = summarize(result["dbos"]["runs"])
    return out


def render(backend: str, figures: dict[str, dict[str, dict[str, float]]], result: dict[str, Any]) -> str:
    lines = []
    for level, systems in figures.items():
        floor = systems.get("raw_floor", {}).get("orders_per_s", 0.0)
        lines.append(f"\n{backend} — {int(level):,} orders stored before ({result['rows_per_order']} rows per order)")
        lines.append(f"{'system':52} {'orders/s (range)':>22} {'×floor':>7} {'p50 ms':>7} {'p95 ms':>7} {'RSS MB':>7}")
        for name, label in SYSTEMS:
            f = systems.get(name)
            if not f:
                continue
            rate = f"{f['orders_per_s']:,.0f} ({f['orders_per_s_min']:,.0f}-{f['orders_per_s_max']:,.0f})"
            paired = f.get("x_floor", f["orders_per_s"] / floor if floor else 0.0)  # DBOS: its own databases
            ratio = f"{paired:.2f}" if floor else "-"
            p50 = f"{f['p50_ms']:.1f}" if "p50_ms" in f else ""
            p95 = f"{f['p95_ms']:.1f}" if "p95_ms" in f else ""
            lines.append(f"{label:52} {rate:>22} {ratio:>7} {p50:>7} {p95:>7} {f.get('rss_mb', 0):>7.0f}")
        boundary, raw = systems.get("tpfgo_single_boundary"), systems.get("raw_per_order")
        if boundary and raw and "p50_ms" in raw:  # the target: p50 <= 1.5x the raw one-transaction-per-order p50
            lines.append(
                f"durable at the boundary: p50 {boundary['p50_ms']:.1f} ms = {boundary['p50_ms'] / raw['p50_ms']:.2f}× "
                f"raw SQL's p50 {raw['p50_ms']:.1f} ms per order (one transaction per order; its mean "
                f"{1000 / raw['orders_per_s']:.1f} ms)"
            )
    winners = [run["raw_floor"].get("method") for data in result["levels"].values() for run in data["runs"]]
    lines.append("floor per repeat: " + ", ".join(w or "?" for w in winners))
    if "dbos" not in figures.get("0", {}):
        lines.append(f"DBOS: {result['dbos'].get('skipped') or result['dbos'].get('errors')}")
    base = figures.get("0", {})
    for level, systems in figures.items():
        if level == "0":
            continue
        growth = [
            f"{name} {systems[name]['orders_per_s'] / base[name]['orders_per_s']:.2f}×"
            for name in ("raw_floor", "tpfgo_single", "tpfgo_batch")
            if name in systems and name in base
        ]
        lines.append(f"throughput at {int(level):,} stored vs empty: " + ", ".join(growth))
    return "\n".join(lines)


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument(
        "--orders", type=arguments.ORDERS, default=1000, help="orders per bulk figure (floor, raw, batched)"
    )
    parser.add_argument("--single-orders", type=arguments.ORDERS, default=300, help="orders per one-at-a-time figure")
    parser.add_argument("--repeat", type=arguments.REPEATS, default=3)
    parser.add_argument(
        "--levels",
        type=arguments.counts(0, arguments.MAX_ORDERS),
        default="0,10000,100000",
        help="orders already stored before measuring",
    )
    parser.add_argument("--backends", type=arguments.BACKENDS, default="sqlite,postgres")
    parser.add_argument(
        "--pg-url",
        type=arguments.server_url,
        default=arguments.server_default(),
    )
    parser.add_argument(
        "--pg-db",
        type=arguments.database(58),  # room for the "_dbos" of DBOS's database in PostgreSQL's 63 characters
        default=default_pg_db(),
        help="the database the run creates and drops (and <name>_dbos); unset, a name of the run's own",
    )
    parser.add_argument("--no-dbos", action="store_true")
    parser.add_argument("--no-queue", action="store_true", help="skip the queue-mode figures (bench/queue_mode.py)")
    parser.add_argument("--quick", action="store_true", help="200/50 orders, one repeat, no history levels")
    parser.add_argument("--results", default=str(RESULTS), help="the folder the JSON and its chart are written to")
    args = parser.parse_args()
    if args.quick:
        args.orders, args.single_orders, args.repeat, args.levels = 200, 50, 1, "0"
    # A backend but sqlite was run as PostgreSQL and only "postgres" had its database dropped after (a typo left one
    # behind); the others failed in the subprocess or at the chart: refused by the parser (bench/arguments.py).
    backends = args.backends.split(",")
    report: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "args": vars(args), "backends": {}}
    with tempfile.TemporaryDirectory(prefix="tpfgo-bench-") as tmp:
        for backend in backends:
            print(f"running {backend} …", file=sys.stderr, flush=True)
            workdir = Path(tmp) / backend
            workdir.mkdir()
            result = run_backend(backend, args, workdir)
            figures = table(result)
            report["backends"][backend] = {"raw": result, "figures": figures}
            print(render(backend, figures, result), flush=True)
    if "postgres" in report["backends"] and not args.no_queue:
        # Queue mode (PostgreSQL, web and worker nodes as processes): smaller than `python -m bench queue`'s
        # defaults, to keep the default run's length (docs/performance.md, "Queue mode").
        from bench import queue_mode

        sizes = ["--quick"] if args.quick else ["--orders", "200", "--overload-seconds", "20"]
        report["queue"] = queue_mode.main([*sizes, "--pg-url", args.pg_url])
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    chart.write(report, path.with_suffix(".svg"))
    print(f"\nwrote {shown(path)} and {shown(path.with_suffix('.svg'))}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["purge"]:  # python -m bench purge [--orders N …]: bench/purge.py
        from bench import purge

        purge.main(sys.argv[2:])
    elif sys.argv[1:2] == ["ingest"]:  # python -m bench ingest [--orders N …]: bench/ingest.py
        from bench import ingest

        sys.exit(ingest.main(sys.argv[2:]))
    elif sys.argv[1:2] == ["sweep"]:  # python -m bench sweep [--levels 0,200000 …]: bench/sweep.py
        from bench import sweep

        sweep.main(sys.argv[2:])
    elif sys.argv[1:2] == ["knee"]:  # python -m bench knee [--workers 1,2,4 …]: bench/knee.py
        from bench import knee

        knee.main(sys.argv[2:])
    elif sys.argv[1:2] == ["queue"]:  # python -m bench queue [--orders N …]: bench/queue_mode.py
        from bench import queue_mode

        queue_mode.main(sys.argv[2:])
    elif sys.argv[1:2] == ["durability"]:  # python -m bench durability [--blocks N …]: bench/durability.py
        from bench import durability

        durability.main(sys.argv[2:])
    elif sys.argv[1:2] == ["dashboard"]:  # python -m bench dashboard [--orders N …]: bench/dashboard.py
        from bench import dashboard

        dashboard.main(sys.argv[2:])
    else:
        main()
