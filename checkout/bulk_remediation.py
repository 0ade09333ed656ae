"""Bulk remediation (docs/operations.md, "Bulk remediation"): one preview of many orders, then a run in batches.

``preview(action, orders)`` previews every order with the one-order preview (``checkout.ops_actions``) and names the
run it would start. ``submit(...)`` stores that run: a ``BulkRun`` whose id is derived from the plan (action,
parameters, and each order with the position its preview showed and the ops actions taken on it by then, in whatever
order the orders come; ``checkout/bulk_run_ids.py``), so the same preview submitted twice is one run, while a new
preview of orders a run left where they were (its redrives failed again) is a new one. ``advance(run_id)`` processes
the next ``TPFGO_BULK_REMEDIATION_BATCH`` orders that have no result yet: each runs through
``checkout.ops_actions.execute`` with the stale guard of its own preview, and ends in one ``BulkRunResult`` (done,
skipped because it moved since the preview, or failed, and why). An order acted on gets an ``OpsAction`` whose id is
derived from (run, order); once every order has a result, one more ``OpsAction`` records the batch and links the
per-order ones. Everything is an insert; progress is counted from the results (``checkout/bulk_run_progress.py``),
so a run that stopped half-way (a crash, a closed browser tab) continues where it stopped when anything advances it
again (the console page, ``manage.py remediate --run``, the Celery beat task).

A plan whose run finished is not run again by submitting it again (the same id finds that run). The operator who
wants its orders run once more, unchanged (each failed without an ops action, so the new preview's plan is the
run's), names that run: ``submit(..., again_of=RUN_ID)`` makes a re-run, a new run whose id is derived from the plan
and the run it repeats, and whose audit rows say so (``againOf``). Naming the same run again finds that re-run;
another round names the re-run (``bulk_run_ids.last_run`` follows the chain).
"""

from __future__ import annotations

import datetime
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count

from checkout import ops_actions as one
from checkout.bulk_run_ids import Plan, batch_action_id, order_action_id, plan_run_id, ran_plan
from checkout.bulk_run_progress import progress, run_of
from pipelines import (
    Detail,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ServiceError,
    database_reckoned,
    deterministic_id,
)
from pipelines import actions as remediation
from pipelines.models import BulkRun, BulkRunResult, OpsAction


def batch_size() -> int:
    return max(1, int(getattr(settings, "TPFGO_BULK_REMEDIATION_BATCH", 20)))


def max_orders() -> int:
    return int(getattr(settings, "TPFGO_BULK_REMEDIATION_MAX_ORDERS", 1000))


def check_again(again_of: object, action: str, params: dict[str, Any], plan: Plan) -> uuid.UUID:
    """The finished run of this very plan that a re-run repeats; refused (nothing stored) when it is not one."""
    try:
        wanted = uuid.UUID(str(again_of).strip())
    except ValueError:
        raise InvalidArgument(f"{again_of!r} is not a bulk run id", [Detail("againOf", "malformed")])
    run = BulkRun.objects.filter(pk=wanted).first()
    if run is None:
        raise NotFound(f"bulk run {wanted} not found", [Detail("againOf", "not found")])
    if not ran_plan(run, action, params, plan):
        raise FailedPrecondition(
            f"bulk run {run.id} ran another plan (another action or parameters, or its orders moved or were acted on "
            "since): this plan is a new run of its own; submit it without naming a run to repeat",
            [Detail("againOf", "another plan")],
        )
    if not progress(run.id)["finished"]:
        raise FailedPrecondition(
            f"bulk run {run.id} has not finished: continue it (its id as --run) rather than run it again",
            [Detail("againOf", "not finished")],
        )
    return run.id


# -- preview and submit -----------------------------------------------------------------------------------------
def preview(action: str, orders: Sequence[Any], **params: object) -> dict[str, Any]:
    """Every order's one-order preview, and the run that submitting the allowed ones would start."""
    if len(orders) > max_orders():
        raise InvalidArgument(
            f"a bulk run takes at most {max_orders()} orders; narrow the filters", [Detail("orders", "too many")]
        )
    shown = []
    for order_id in orders:
        try:
            shown.append(one.preview(action, order_id, **params))
        except NotFound as exc:  # an id typed by hand; the action's own errors (bad parameter) stop the preview
            shown.append({"orderId": str(order_id), "allowed": False, "why": exc.message, "inserts": []})
    acted = _ops_actions_on([p["orderId"] for p in shown if p["allowed"]])
    for p in shown:
        if p["allowed"]:
            p["opsActionsSeen"] = acted.get(uuid.UUID(p["orderId"]), 0)
    plan = plan_of({"orders": shown})
    return {
        "action": action,
        "params": params,
        "orders": shown,
        "allowed": len(plan),
        "refused": len(shown) - len(plan),
        "runId": str(plan_run_id(action, params, plan)) if plan else None,
    }


def plan_of(preview_shown: dict[str, Any]) -> Plan:
    return [
        (uuid.UUID(p["orderId"]), int(p["expectedSeq"]), int(p.get("opsActionsSeen", 0)))
        for p in preview_shown["orders"]
        if p["allowed"]
    ]


def _ops_actions_on(orders: Sequence[Any]) -> dict[uuid.UUID, int]:
    """How many ops actions each order has had (one query)."""
    rows = OpsAction.objects.filter(trace_id__in=orders).values_list("trace_id").annotate(n=Count("id"))
    return dict(rows.order_by())


def submit(action: str, plan: Plan, *, actor: str, reason: str, again_of: object = None, **params: object) -> BulkRun:
    """Store the run (or find it, when this plan was submitted before); nothing runs yet. With ``again_of``, the
    finished run of this plan to repeat: a re-run of it (``check_again``)."""
    actor, reason = remediation.check_who(actor, reason)
    if action not in one.ACTIONS:
        raise InvalidArgument(f"unknown remediation {action!r}", [Detail("action", "unknown")])
    if not plan:
        raise InvalidArgument("no order to remediate: the preview allowed none", [Detail("orders", "empty")])
    if len(plan) > max_orders():
        raise InvalidArgument(f"a bulk run takes at most {max_orders()} orders", [Detail("orders", "too many")])
    if len({order_id for order_id, _, _ in plan}) != len(plan):
        raise InvalidArgument("an order appears twice in the plan", [Detail("orders", "duplicate")])
    if any(not 0 < seq < 2**63 for _, seq, _ in plan):  # a preview's expected position is a log seq (bigint)
        raise InvalidArgument("an expected position is no log position", [Detail("orders", "not a log position")])
    if any(not 0 <= acted < 2**31 for _, _, acted in plan):
        raise InvalidArgument("an ops action count is no count", [Detail("orders", "not a count")])
    again = check_again(again_of, action, params, plan) if again_of is not None else None
    run = BulkRun(
        id=plan_run_id(action, params, plan, again_of=again),
        action=action,
        params=params,
        actor=actor,
        reason=reason,
        plan=[[str(order_id), seq, acted] for order_id, seq, acted in plan],
        total=len(plan),
        created_at=database_reckoned(),  # the clock beat's idle check reads: not this console node's
        again_of=again,
    )
    BulkRun.objects.bulk_create([run], ignore_conflicts=True)
    return BulkRun.objects.get(pk=run.id)


def refuse_finished(run_id: object) -> None:
    """``FailedPrecondition`` when this plan's run exists and has finished: submitting the same plan again would run
    nothing and answer its first results as if they had just run. Says when it ran, who ran it, and its counts."""
    run = BulkRun.objects.filter(pk=uuid.UUID(str(run_id))).first()
    if run is None or not (shown := progress(run.id))["finished"]:
        return  # a new plan, or a run that stopped half-way: submitting it continues it
    raise FailedPrecondition(
        f"bulk run {run.id} already ran this plan: submitted {_at(shown['submittedAt'])} by {run.actor}, finished "
        f"{_at(shown['finishedAt'])}: {shown['done']} done, {shown['skipped']} skipped, {shown['failed']} failed of "
        f"{run.total}; nothing was run again",
        [Detail("runId", "already ran")],
    )


def _at(when: datetime.datetime) -> str:
    return f"{when.astimezone(datetime.UTC):%Y-%m-%d %H:%M:%S} UTC"


# -- the run ------------------------------------------------------------------------------------------------------
def advance(run_id: uuid.UUID, limit: int | None = None) -> dict[str, Any]:
    """Process the next batch of the run (unless another process is on it: ``mine`` is then false) and answer
    its progress."""
    run = run_of(run_id)
    size = limit or batch_size()
    with _one_processor(run.id) as mine:
        if mine:
            done = set(BulkRunResult.objects.filter(run=run).values_list("trace_id", flat=True))
            pending = [(n, uuid.UUID(o), int(s)) for n, (o, s, *_) in enumerate(run.plan) if uuid.UUID(o) not in done]
            for position, order_id, seq in pending[:size]:
                _one(run, position, order_id, seq)
            if len(pending) <= size:
                _close(run)
    return {**progress(run.id), "mine": mine}


def run_to_end(run_id: uuid.UUID, action: str | None = None) -> dict[str, Any]:
    """Advance batch after batch until every order has a result (the command line and the beat task). Given an
    ``action`` (the command line's), a run of another action is refused: it would carry on as its own action."""
    if action is not None and (run := run_of(run_id)).action != action:
        raise FailedPrecondition(
            f"bulk run {run.id} is a {run.action} run, not {action}", [Detail("action", run.action)]
        )
    shown = advance(run_id)
    while not shown["finished"] and shown["mine"]:
        shown = advance(run_id)
    return shown


def _one(run: BulkRun, position: int, order_id: uuid.UUID, seq: int) -> None:
    action_id = order_action_id(run.id, order_id)
    found = OpsAction.objects.filter(pk=action_id).first()
    if found is not None:  # acted on before the process stopped, its result not yet stored
        outcome, why = _judge(found.result)
        _result(run, position, order_id, outcome, f"{why} (recorded before the run stopped)", action_id)
        return
    try:
        view = one.execute(
            run.action,
            order_id,
            actor=run.actor,
            reason=run.reason,
            expected_seq=seq,
            action_id=action_id,
            note={"bulkRunId": str(run.id), **_again(run)},
            **run.params,
        )
    except ServiceError as exc:
        stale = any(d.issue == "stale" for d in exc.details)
        outcome = BulkRunResult.SKIPPED if stale else BulkRunResult.FAILED
        why = f"moved since the preview: {exc.message}" if stale else f"{exc.code}: {exc.message}"
        _result(run, position, order_id, outcome, why, None)
        return
    recorded = OpsAction.objects.get(pk=action_id)
    outcome, why = _judge(recorded.result)
    if outcome == BulkRunResult.DONE:
        why = f"state {view['state']}" + (" (stalled again)" if view.get("stalled") else "")
    _result(run, position, order_id, outcome, why, action_id)


def _judge(result: dict[str, Any]) -> tuple[str, str]:
    """Whether an action that ran did what it set out to: a redrive whose attempt failed again did not."""
    if result.get("status") == "failed" or (result.get("redrive") or {}).get("status") == "failed":
        return BulkRunResult.FAILED, "the re-run failed again and is parked (see its error-sink entry)"
    failed = [f"{s['pipeline']}/{s['step']}" for s in result.get("steps", []) if s.get("status") == "failed"]
    if failed:
        return BulkRunResult.FAILED, f"failed at {', '.join(failed)}"
    return BulkRunResult.DONE, "ran"


def _result(
    run: BulkRun, position: int, order_id: uuid.UUID, outcome: str, detail: str, action_id: uuid.UUID | None
) -> None:
    row = BulkRunResult(
        run=run,
        trace_id=order_id,
        position=position,
        outcome=outcome,
        detail=detail[:2000],
        ops_action_id=action_id,
        created_at=database_reckoned(),
    )
    BulkRunResult.objects.bulk_create([row], ignore_conflicts=True)


def _close(run: BulkRun) -> None:
    """Once every order has a result: the batch's own audit row, linking the per-order ones."""
    rows = list(BulkRunResult.objects.filter(run=run).order_by("position"))
    if len(rows) < run.total:
        return
    counts = Counter(r.outcome for r in rows)
    remediation.record(
        f"bulk-{run.action}",
        run.id,  # the batch is no order: its audit row carries the run's id where an order's would be
        actor=run.actor,
        reason=run.reason,
        preview_seq=None,
        result={
            "bulkRunId": str(run.id),
            **_again(run),
            "total": run.total,
            **{k: counts.get(k, 0) for k in (BulkRunResult.DONE, BulkRunResult.SKIPPED, BulkRunResult.FAILED)},
            "opsActionIds": [str(r.ops_action_id) for r in rows if r.ops_action_id],
        },
        action_id=batch_action_id(run.id),
    )


def _again(run: BulkRun) -> dict[str, str]:
    """A re-run's audit rows name the run it repeats."""
    return {"againOf": str(run.again_of)} if run.again_of else {}


@contextmanager
def _one_processor(run: uuid.UUID) -> Iterator[bool]:
    """PostgreSQL: one process advances a run at a time (a session advisory lock, tried, never waited for);
    another caller just reads the progress. SQLite serializes writers; there every caller advances."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = deterministic_id("bulk-run-lock", run).int & 0x7FFF_FFFF_FFFF_FFFF
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        mine = bool(cursor.fetchone()[0])
    try:
        yield mine
    finally:
        if mine:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
