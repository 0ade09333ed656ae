"""Which run a bulk remediation's plan makes (docs/operations.md, "Bulk remediation"), and the ids of its audit rows.

A ``BulkRun``'s id is derived from its action, parameters and plan (each order with the position its preview showed
and the ops actions taken on it by then), in whatever order the orders come, and for a re-run from the run it
repeats: the same preview submitted twice finds one run. Runs recorded when the id followed the order of the orders
keep that id; ``plan_run_id`` and ``ran_plan`` still find them. Each order a run acts on, and the run's batch, get
``OpsAction`` rows whose ids are derived from the run (and the order), so a run that stopped half-way and continues
finds what it already did. ``checkout/bulk_remediation.py`` previews, stores and advances the runs.
"""

from __future__ import annotations

import uuid
from typing import Any

from pipelines import deterministic_id
from pipelines.models import BulkRun

# Each order with the checkpoint-log position its preview showed and the ops actions taken on it by then: a redrive
# that failed again moves no position, so the position alone would make a new preview's plan the old run's.
Plan = list[tuple[uuid.UUID, int, int]]


def run_id(action: str, params: dict[str, Any], plan: Plan, again_of: uuid.UUID | None = None) -> uuid.UUID:
    """The run a plan makes: the same action, parameters, orders, positions and ops actions give the same id, in
    whatever order the orders come; a re-run's also counts the run it repeats."""
    return _derived(action, params, sorted(plan), again_of)


def _derived(action: str, params: dict[str, Any], plan: Plan, again_of: uuid.UUID | None) -> uuid.UUID:
    parts = [f"{order_id}@{seq}" + (f"~{acted}" if acted else "") for order_id, seq, acted in plan]
    again = [f"again={again_of}"] if again_of is not None else []
    return deterministic_id("bulk-run", action, *(f"{k}={params[k]}" for k in sorted(params)), *parts, *again)


def plan_run_id(action: str, params: dict[str, Any], plan: Plan, again_of: uuid.UUID | None = None) -> uuid.UUID:
    """The id of this plan's run: ``run_id``, unless only a run recorded under the id of the plan in the order given
    exists. Ids were once derived from the orders in their order: such a run keeps its id (its results and audit
    rows carry it), and the same plan, previewed in the same order, still finds it."""
    wanted, recorded = run_id(action, params, plan, again_of), _derived(action, params, plan, again_of)
    if recorded == wanted:
        return wanted
    found = set(BulkRun.objects.filter(pk__in=[wanted, recorded]).values_list("pk", flat=True))
    return recorded if recorded in found and wanted not in found else wanted


def ran_plan(run: BulkRun, action: str, params: dict[str, Any], plan: Plan) -> bool:
    """Whether ``run`` is a run of this plan: its id is the plan's, or, for a run whose id was derived from the
    order of its orders, the id of the plan in the order the run recorded it."""
    if run.id == run_id(action, params, plan, again_of=run.again_of):
        return True
    recorded = [(uuid.UUID(str(o)), int(seq), int(rest[0]) if rest else 0) for o, seq, *rest in run.plan]
    return sorted(recorded) == sorted(plan) and run.id == _derived(action, params, recorded, run.again_of)


def last_run(action: str, params: dict[str, Any], plan: Plan) -> BulkRun | None:
    """The newest run of this plan: its first run, or the re-run of that, and so on; None when it never ran."""
    found, wanted = None, plan_run_id(action, params, plan)
    while (run := BulkRun.objects.filter(pk=wanted).first()) is not None:
        found, wanted = run, plan_run_id(action, params, plan, again_of=run.id)
    return found


def order_action_id(run: uuid.UUID, order_id: uuid.UUID) -> uuid.UUID:
    return deterministic_id("bulk-ops-action", run, order_id)


def batch_action_id(run: uuid.UUID) -> uuid.UUID:
    return deterministic_id("bulk-ops-action", run)
