"""What the scale-out test checks afterwards: against the clients' answers, the order views, and the database.

The SQL checks read the cluster's database directly (psycopg), with the table and column names taken from the
models, so a new checkpoint model is checked without being listed here.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps

from pipelines.models import Checkpoint, CheckpointLog, OpenParked, SweepTick
from tests.scaleout.cluster import Database
from tests.scaleout.load import Order

TERMINAL_OR_AWAITING = {"COMPLETED", "CANCELLED", "AWAITING_ACCEPTANCE"}


def ok(status: int) -> bool:
    return 200 <= status < 300


def expected_states(order: Order) -> set[str]:
    """The states ``order`` may end in, given what its clients were told."""
    if order.kind != "manual":
        return {"COMPLETED"}
    cancel, accept = order.commands.get("cancel"), order.commands.get("accept")
    cancelled = cancel is not None and ok(cancel.status) and cancel.body["cancellation"]["outcome"] == "ACCEPTED"
    accepted = accept is not None and ok(accept.status)
    if cancelled:
        # Both answered 2xx is right when the accept came first: a cancellation before preparation still wins the
        # order's KitchenCommitment (docs/chain.md), which in queue mode a worker claims for the kitchen only
        # after the accept was answered. An accept after an accepted cancellation loses the decision slot (412).
        return {"CANCELLED"}
    if accepted:
        return {"COMPLETED"}
    if all(answer.status in (200, 412) for answer in order.commands.values()):
        return {"AWAITING_ACCEPTANCE"}
    return TERMINAL_OR_AWAITING  # a command went unanswered: any outcome it could have had


def answer_problems(orders: list[Order]) -> list[str]:
    """Every placement answered 2xx, and every client of one key was told the same orderId."""
    problems = []
    for order in orders:
        statuses = [answer.status for answer in order.placed]
        if not order.placed or not all(ok(status) for status in statuses):
            problems.append(f"{order.key}: placement answered {statuses}")
            continue
        ids = {answer.body["orderId"] for answer in order.placed}
        if len(ids) != 1:
            problems.append(f"{order.key}: {len(order.placed)} clients were told {len(ids)} orderIds {sorted(ids)}")
    return problems


def view_problems(order: Order, view: dict[str, Any]) -> list[str]:
    """The order's view against its expected state; not stalled; the revision's answer kept."""
    problems = []
    if view.get("requestId") != order.key:
        problems.append(f"{order.key}: the view's requestId is {view.get('requestId')}")
    if view["state"] not in expected_states(order):
        problems.append(f"{order.key} ({order.kind}, {order.race}): {view['state']} not in {expected_states(order)}")
    if view["stalled"] is not None:
        problems.append(f"{order.key}: stalled {view['stalled']}")
    revise = order.commands.get("revise")
    if revise is not None and ok(revise.status):
        told = revise.body["revision"]
        kept = [r for r in view["revisions"] if r["revisionId"] == told["revisionId"]]
        if len(kept) != 1 or (told["outcome"] != "PENDING" and kept[0]["outcome"] != told["outcome"]):
            problems.append(f"{order.key}: revision answered {told['outcome']}, the view holds {kept}")
    return problems


def checkpoint_models() -> list[type[Checkpoint]]:
    return [
        model
        for model in apps.get_models()
        if issubclass(model, Checkpoint) and not model._meta.abstract and model._meta.app_label != "lane"
    ]


def database_problems(database: Database, orders: list[Order]) -> list[str]:
    """0 duplicate checkpoints per business key, one order per key, one log row per checkpoint, nothing parked."""
    problems = []
    log = CheckpointLog._meta.db_table
    for model in checkpoint_models():
        table = model._meta.db_table
        columns = ", ".join(model._meta.get_field(name).column for name in model.business_key_fields)
        duplicates = database.query(f"SELECT {columns}, count(*) FROM {table} GROUP BY {columns} HAVING count(*) > 1")
        problems += [f"{model.__name__}: {row[-1]} rows for business key {row[:-1]}" for row in duplicates]
        # The log is not unique per trace and type: a second fact of an order-keyed kind shows there.
        if model.business_key_fields == ("order_id", "branch"):
            twice = database.query(
                f"SELECT trace_id, count(*) FROM {log} WHERE checkpoint_type = %s "
                "GROUP BY trace_id HAVING count(*) > 1",
                model.__name__,
            )
            problems += [f"{model.__name__}: {count} log rows in trace {trace}" for trace, count in twice]
        (rows,), (logged,) = (
            database.query(f"SELECT count(*) FROM {table}")[0],
            database.query(f"SELECT count(*) FROM {log} WHERE checkpoint_type = %s", model.__name__)[0],
        )
        if rows != logged:
            problems.append(f"{model.__name__}: {rows} rows but {logged} log rows")
    logged_twice = database.query(f"SELECT checkpoint_id FROM {log} GROUP BY checkpoint_id HAVING count(*) > 1")
    problems += [f"checkpoint {row[0]} logged more than once" for row in logged_twice]
    (traces,) = database.query(f"SELECT count(DISTINCT trace_id) FROM {log} WHERE checkpoint_type = 'OrderRequest'")[0]
    if traces != len(orders):
        problems.append(f"{traces} orders stored for {len(orders)} idempotency keys")
    open_parked = database.query(f"SELECT pipeline, step, dead_at FROM {OpenParked._meta.db_table}")
    problems += [f"parked and not closed: {row}" for row in open_parked]
    return problems


def sweep_gaps(database: Database, first: int, last: int) -> tuple[int, list[int]]:
    """How many time slots a sweep claimed in all, and the slots from ``first`` to ``last`` that none claimed.

    ``SweepTick.tick`` is unique, so no slot is swept twice by construction; what can go wrong across nodes is a
    slot nobody sweeps (no beat leads, or its messages are lost): those are the gaps.
    """
    claimed = {tick for (tick,) in database.query(f"SELECT tick FROM {SweepTick._meta.db_table}")}
    return len(claimed), [tick for tick in range(first, last + 1) if tick not in claimed]
