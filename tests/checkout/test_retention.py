"""Retention: a purge removes whole terminal orders older than the policy (every row, counted per table) and
nothing else, leaves one tombstone per order and one purge record per batch; a dry run counts the same rows.

The 10,000 orders are cloned from one real order with the bench's bulk helper (``bench.template``), placed at a
date past the policy; the orders that must stay are placed through the service between the clones.
"""

from __future__ import annotations

import datetime
import io
import uuid
from collections import Counter
from typing import Any

import pytest
import time_machine
from django.apps import apps
from django.core.management import CommandError, call_command
from django.utils import timezone

from bench import template as tpl
from checkout import demo, ops_actions, personal, services
from checkout.models import Consumer, Courier
from pipelines import Purged
from pipelines.models import (
    CheckpointLog,
    ErrorSinkEntry,
    OpsAction,
    ParkedItem,
    ParkingOutcome,
    PurgeRecord,
    RetryClaim,
    RetryScheduled,
    RetryTakeover,
    SweepDispatch,
    SweepTick,
    Tombstone,
    Trace,
)
from pipelines.recovery import retention
from pipelines.store import clock
from pipelines.store import purge as purge_rows
from tests.checkout.conftest import order_body
from tests.conftest import node_clock
from tests.opsconsole.conftest import dead_lettered_order

pytestmark = pytest.mark.django_db

OLD = datetime.timedelta(days=400)  # past the default 365-day orders policy


def every_table() -> dict[str, int]:
    """Rows of every model table (checkpoints, ledgers, derived and reference tables alike)."""
    seen: dict[str, int] = {}
    for model in apps.get_models():
        if model._meta.managed and not model._meta.proxy and model._meta.db_table not in seen:
            seen[model._meta.db_table] = model._base_manager.count()
    return seen


def rows_per_order(template: tpl.Template) -> Counter[str]:
    per_table: Counter[str] = Counter()
    for table in template.tables:
        per_table[table.table.name.strip('"')] += len(table.rows)
    return per_table


def clone(template: tpl.Template, prefix: str, count: int) -> list[str]:
    keys = [f"{prefix}-{n:05d}" for n in range(count)]
    for start in range(0, count, 2000):
        tpl.copy_orders([template.clone(k) for k in keys[start : start + 2000]])
    return keys


def old_template() -> tpl.Template:
    with time_machine.travel(timezone.now() - OLD, tick=False):
        return tpl.capture(order_body())


def only_orders(**kwargs: Any) -> retention.Outcome:
    (outcome,) = retention.purge(actor="test", policies=["orders"], **kwargs)
    return outcome


@pytest.mark.django_db(transaction=True)  # committed batches: inside one test transaction SQLite slows per batch
def test_a_purge_of_10000_completed_orders_removes_exactly_their_rows_and_nothing_else():
    demo.load()
    template = old_template()  # the first of the 10,000
    clone(template, "old-a", 4999)
    with time_machine.travel(timezone.now() - OLD, tick=False):  # in flight: waits for the restaurant
        waiting = services.place_order(order_body("chez-manuel", [{"menuItemId": "crepe", "quantity": 1}]), "busy")
    clone(template, "old-b", 5000)
    recent = services.place_order(order_body(), "recent")  # completed, but within the policy
    kept = {o.view["orderId"]: services.get_order(o.view["orderId"]) for o in (waiting, recent)}
    before = every_table()

    outcome = only_orders(batch_size=500)

    after = every_table()
    removed = {table: before[table] - after[table] for table in before if before[table] != after[table]}
    expected = {table: n * 10_000 for table, n in rows_per_order(template).items()}
    expected[Tombstone._meta.db_table] = -10_000
    # A batch is a window of 500 traces by number: the in-flight order's window holds 499 to remove, which
    # leaves one for a 21st window.
    expected[PurgeRecord._meta.db_table] = -21
    assert removed == expected
    assert (outcome.items, outcome.batches) == (10_000, 21)
    assert outcome.rows == {t: n for t, n in expected.items() if n > 0}
    assert sum(r.items for r in PurgeRecord.objects.all()) == 10_000
    assert {o: services.get_order(o) for o in kept} == kept
    assert {str(t) for t in Trace.objects.values_list("trace_id", flat=True)} == set(kept)


def test_a_dry_run_counts_the_rows_the_purge_then_removes_and_changes_nothing():
    demo.load()
    template = old_template()
    clone(template, "dry", 29)
    before = every_table()
    out = io.StringIO()

    call_command("purge", "--dry-run", "--policy", "orders", "--batch", "7", stdout=out)

    assert every_table() == before
    per_order = rows_per_order(template)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("orders: would remove 30 older than ")
    assert sorted(lines[1:]) == sorted(f"  {table}: {n * 30}" for table, n in per_order.items())
    outcome = only_orders(batch_size=7)
    assert outcome.rows == {table: n * 30 for table, n in per_order.items()}
    assert (outcome.items, outcome.batches, Tombstone.objects.count()) == (30, 5, 30)


def test_a_policy_named_twice_runs_and_reports_once():
    out = io.StringIO()
    twice = ["--policy", "parked", "--policy", "ops_actions", "--policy", "parked"]
    call_command("purge", "--dry-run", *twice, stdout=out)
    assert [line.split(":")[0] for line in out.getvalue().splitlines()] == ["parked", "ops_actions"]


def test_an_order_within_the_policy_or_not_terminal_is_never_purged():
    demo.load()
    with time_machine.travel(timezone.now() - OLD, tick=False):
        waiting = services.place_order(order_body("chez-manuel", [{"menuItemId": "crepe", "quantity": 1}]), "busy")
    services.place_order(order_body(), "recent")
    before = every_table()

    outcome = only_orders()

    assert (outcome.items, every_table()) == (0, before)
    assert services.get_order(waiting.view["orderId"])["state"] == "AWAITING_ACCEPTANCE"


def test_a_completed_order_that_got_a_fact_within_the_policy_is_kept():
    demo.load()
    with time_machine.travel(timezone.now() - OLD, tick=False):
        order_id = services.place_order(order_body(), "late-fact").view["orderId"]
    services.cancel_order(order_id)  # refused (already terminal), but recorded today
    before = every_table()

    assert only_orders().items == 0
    assert every_table() == before


def test_a_purged_order_leaves_a_tombstone_with_its_key_and_answers_purged():
    demo.load()
    with time_machine.travel(timezone.now() - OLD, tick=False):
        order_id = services.place_order(order_body(), "gone-key").view["orderId"]
    assert only_orders().items == 1
    stone = Tombstone.objects.get()
    assert (str(stone.trace_id), stone.idempotency_key) == (order_id, "gone-key")
    before = every_table()

    for call, message in (
        (lambda: services.place_order(order_body(), "gone-key"), "the order of this Idempotency-Key was purged"),
        (lambda: services.get_order(order_id), f"order {order_id} was purged"),
        (lambda: services.lineage(order_id), f"order {order_id} was purged"),
        (lambda: services.cancel_order(order_id), f"order {order_id} was purged"),
        # Ops (the console's and remediate's actions) are told when; an API client only that it was.
        (
            lambda: ops_actions.preview("redrive", order_id),
            f"order {order_id} was purged on {stone.purged_at:%Y-%m-%d}",
        ),
    ):
        with pytest.raises(Purged) as refused:
            call()
        assert refused.value.code == "PURGED" and refused.value.http_status == 410
        assert refused.value.message == f"{message} by the retention policy"

    assert every_table() == before
    assert CheckpointLog.objects.count() == 0


def test_retention_settings_of_zero_keep_everything(settings):
    settings.TPFGO_RETENTION = {**settings.TPFGO_RETENTION, "orders": 0}
    demo.load()
    with time_machine.travel(timezone.now() - OLD, tick=False):
        services.place_order(order_body(), "kept-forever")
    before = every_table()
    out = io.StringIO()

    call_command("purge", "--policy", "orders", stdout=out)

    assert out.getvalue() == "orders: kept forever (TPFGO_RETENTION)\n"
    assert every_table() == before


def taken_over(parked: ParkedItem) -> None:
    """A run took over the parked item's first claimed attempt (its first run died)."""
    claim = RetryClaim.objects.filter(parked=parked).order_by("attempt").first()
    assert claim is not None
    RetryTakeover.objects.create(
        parked=parked, attempt=claim.attempt, worker="task-9@host-b", taken_from=claim.worker, created_at=timezone.now()
    )


def test_an_order_whose_retry_was_taken_over_is_purged_with_every_row_of_its_failure():
    demo.load()
    with time_machine.travel(timezone.now() - OLD, tick=False):
        order_id = dead_lettered_order("retention-taken-over")
        taken_over(ParkedItem.objects.get(trace_id=order_id))
        Courier.objects.update(available=True)
        shown = ops_actions.preview("redrive", order_id)
        ops_actions.execute("redrive", order_id, actor="ops", reason="courier back", expected_seq=shown["expectedSeq"])
    assert services.get_order(order_id)["state"] == "COMPLETED"

    outcome = only_orders()

    assert outcome.items == 1 and outcome.rows["pipelines_retrytakeover"] == 1
    assert (ParkedItem.objects.count(), RetryTakeover.objects.count(), RetryClaim.objects.count()) == (0, 0, 0)


def test_error_sink_entries_closed_parked_items_and_ops_actions_each_go_by_their_own_policy(settings):
    demo.load()
    order_id = dead_lettered_order("retention-dead")
    Courier.objects.update(available=True)
    shown = ops_actions.preview("redrive", order_id)
    ops_actions.execute("redrive", order_id, actor="ops", reason="courier back", expected_seq=shown["expectedSeq"])
    parked = ParkedItem.objects.get(trace_id=order_id)
    taken_over(parked)
    later = timezone.now() + OLD  # the purges run then: a parked item's rows carry the database's clock, not a node's
    assert services.get_order(order_id)["state"] == "COMPLETED"
    counts = {
        "pipelines_errorsinkentry": ErrorSinkEntry.objects.count(),
        "pipelines_parkeditem": 1,
        "pipelines_retryscheduled": RetryScheduled.objects.filter(parked=parked).count(),
        "pipelines_retryclaim": RetryClaim.objects.filter(parked=parked).count(),
        "pipelines_retrytakeover": 1,
        "pipelines_parkingoutcome": ParkingOutcome.objects.filter(parked=parked).count(),
    }
    assert counts["pipelines_errorsinkentry"] > 1 and counts["pipelines_parkingoutcome"] == 2  # dead, then resolved
    before = every_table()

    (sink,) = retention.purge(actor="test", policies=["error_sink"], batch_size=2, now=later)
    (closed,) = retention.purge(actor="test", policies=["parked"], now=later)
    (kept_actions,) = retention.purge(actor="test", policies=["ops_actions"], now=later)  # 3 years by default
    settings.TPFGO_RETENTION = {**settings.TPFGO_RETENTION, "ops_actions": 300}
    (actions,) = retention.purge(actor="test", policies=["ops_actions"], now=later)

    assert sink.rows == {"pipelines_errorsinkentry": counts["pipelines_errorsinkentry"]}
    assert closed.rows == {t: n for t, n in counts.items() if t != "pipelines_errorsinkentry" and n}
    assert (kept_actions.items, actions.items, actions.rows) == (0, 1, {"pipelines_opsaction": 1})
    removed = {t: before[t] - n for t, n in every_table().items() if before[t] != n}
    records = -(sink.batches + closed.batches + actions.batches)
    assert removed == {**sink.rows, **closed.rows, **actions.rows, "pipelines_purgerecord": records}
    assert services.get_order(order_id)["state"] == "COMPLETED"  # the order itself goes by the orders policy


def test_an_erasures_audit_row_outlives_the_ops_actions_policy(settings):
    Consumer.objects.create(id="zed", name="Zed Quux")
    erased = personal.erase("zed", actor="ops-anna", reason="request #41")
    settings.TPFGO_RETENTION = {**settings.TPFGO_RETENTION, "ops_actions": 300}
    before = every_table()

    (outcome,) = retention.purge(actor="test", policies=["ops_actions"], now=timezone.now() + OLD)

    assert (outcome.items, outcome.batches, every_table()) == (0, 0, before)
    assert OpsAction.objects.get().pk == erased.ops_action_id


def test_sweep_ticks_and_dispatches_older_than_their_policy_go_in_audited_batches_and_the_recent_ones_stay():
    now = timezone.now()
    ages = [45, 40, 31, 29, 1, 0]  # days; the policy keeps 30 by default
    for tick, days in enumerate(ages):
        at = now - datetime.timedelta(days=days)
        SweepTick.objects.create(tick=tick, node=f"beat-{tick}", created_at=at)
        SweepDispatch.objects.create(
            kind="resume", subject=uuid.uuid4(), number=tick, send=1, created_at=at, resend_at=at
        )
    before = every_table()

    (counted,) = retention.purge(actor="test", policies=["sweep_ticks"], dry_run=True)
    assert every_table() == before
    (removed,) = retention.purge(actor="test", policies=["sweep_ticks"], batch_size=2)

    expected = {"pipelines_sweeptick": 3, "pipelines_sweepdispatch": 3}
    assert (counted.items, counted.rows) == (6, expected)
    assert (removed.items, removed.batches, removed.rows) == (6, 4, expected)
    assert sorted(SweepTick.objects.values_list("tick", flat=True)) == [3, 4, 5]
    assert sorted(SweepDispatch.objects.values_list("number", flat=True)) == [3, 4, 5]
    changed = {t: n - before[t] for t, n in every_table().items() if n != before[t]}
    assert changed == {"pipelines_sweeptick": -3, "pipelines_sweepdispatch": -3, "pipelines_purgerecord": 4}
    assert (
        sorted(PurgeRecord.objects.values_list("policy", "items"))
        == [("sweep_ticks", 1)] * 2 + [("sweep_ticks", 2)] * 2
    )


def test_a_batch_whose_trace_got_a_new_checkpoint_meanwhile_rolls_back_whole(monkeypatch):
    demo.load()
    with time_machine.travel(timezone.now() - OLD, tick=False):
        services.place_order(order_body(), "raced")
    real = purge_rows.delete_traces

    def and_a_late_checkpoint(batch: purge_rows.TraceBatch) -> dict[str, int]:
        started = Trace.objects.get(number=batch.numbers[0]).created_at
        counts = real(batch)
        CheckpointLog.objects.create(  # what a concurrent step's commit leaves for the re-check to see
            checkpoint_type="OrderRequest",
            checkpoint_id=uuid.uuid4(),
            trace_id=batch.trace_ids[0],
            trace_number=batch.numbers[0],
            pipeline="checkout",
            step="order_request",
            created_at=timezone.now(),
            trace_created_at=started,
        )
        return counts

    monkeypatch.setattr(purge_rows, "delete_traces", and_a_late_checkpoint)
    before = every_table()

    assert only_orders().items == 0

    assert every_table() == before  # the batch's deletes, its record and tombstones all rolled back


def test_a_dead_letter_older_than_the_error_sink_policy_keeps_the_entries_its_open_failure_shows():
    demo.load()
    with time_machine.travel(timezone.now() - OLD, tick=False):
        order_id = dead_lettered_order("retention-still-dead")
        closed_id = dead_lettered_order("retention-redriven")
        Courier.objects.update(available=True)
        shown = ops_actions.preview("redrive", closed_id)
        ops_actions.execute("redrive", closed_id, actor="ops", reason="courier back", expected_seq=shown["expectedSeq"])
    stalled = services.get_order(order_id)["stalled"]
    assert stalled["deadLettered"] and stalled["errorClass"] and stalled["attempts"] > 1
    closed_entries = ErrorSinkEntry.objects.filter(trace_id=closed_id).count()
    open_entries = ErrorSinkEntry.objects.filter(trace_id=order_id).count()

    (sink,) = retention.purge(actor="test", policies=["error_sink"])

    assert (sink.items, sink.rows) == (closed_entries, {"pipelines_errorsinkentry": closed_entries})
    assert ErrorSinkEntry.objects.filter(trace_id=order_id).count() == open_entries
    assert services.get_order(order_id)["stalled"] == stalled  # what failed, how often: still there to act on


@pytest.mark.parametrize("days", [-1, float("nan"), float("inf"), "a year"])
def test_a_retention_that_is_not_a_number_of_days_from_zero_up_is_refused_and_removes_nothing(settings, days):
    settings.TPFGO_RETENTION = {**settings.TPFGO_RETENTION, "orders": days}
    demo.load()
    services.place_order(order_body(), "just-completed")  # a negative age would make it expired already
    before = every_table()

    with pytest.raises(CommandError) as refused:
        call_command("purge", "--policy", "orders", stdout=io.StringIO())

    assert str(refused.value) == (
        f"TPFGO_RETENTION['orders'] is {days!r}: give a number of days from 0 up (0: kept forever); "
        "the environment sets it as TPFGO_RETENTION_ORDERS_DAYS"
    )
    assert every_table() == before


def test_a_purge_on_a_node_whose_clock_is_ahead_keeps_the_rows_younger_than_its_policy():
    database = clock.now()
    for tick, age in enumerate([datetime.timedelta(days=30, minutes=5), datetime.timedelta(days=30, minutes=-5)]):
        SweepTick.objects.create(tick=tick, node=f"beat-{tick}", created_at=database - age)

    with node_clock(15):  # the node the purge runs on; before: its cutoff was 15 minutes late, and took both
        (removed,) = retention.purge(actor="test", policies=["sweep_ticks"])

    assert removed.rows == {"pipelines_sweeptick": 1}
    assert list(SweepTick.objects.values_list("tick", flat=True)) == [1]  # 30 days less 5 minutes old: kept
