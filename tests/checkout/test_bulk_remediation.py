"""Bulk remediation: one preview of many orders, a run in bounded batches, one result and audit row per order."""

from __future__ import annotations

import contextlib
import datetime
import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from checkout import bulk_remediation, bulk_run_ids, bulk_run_progress, bulk_selection, ops_actions, services, state
from checkout.bulk import place_orders
from checkout.models import Courier
from pipelines.contracts.status import InvalidArgument
from pipelines.models import BulkRun, BulkRunResult, CheckpointLog, OpsAction
from pipelines.store import claim_locks
from tests.checkout.conftest import order_body, place
from tests.conftest import all_insert_only_counts, node_clock

pytestmark = pytest.mark.django_db

WHO = {"actor": "ops:erin", "reason": "gateway back since 14:05"}
# One failed attempt dead-letters payment authorization; the next attempt (the redrive) finds the gateway back.
ONE_ATTEMPT = {"consumer-validation.payment_authorized": {"max_attempts": 1}}


@pytest.fixture
def outage(settings, demo_data):
    """``count`` orders dead-lettered at payment authorization by a gateway outage (tok_flaky_1 at the simulator)."""
    settings.TPFGO_RETRY_POLICIES = ONE_ATTEMPT

    def make(count: int, prefix: str = "outage") -> list[uuid.UUID]:
        bodies = [(order_body(paymentToken="tok_flaky_1"), f"{prefix}-{n}") for n in range(count)]
        placed = place_orders(bodies)
        ids = [uuid.UUID(p.view["orderId"]) for p in placed]
        assert all(state.order_view(o).stalled.dead_lettered for o in ids[:3])  # type: ignore[union-attr]
        return ids

    return make


@contextlib.contextmanager
def held_by_another_action(*orders: uuid.UUID) -> Iterator[None]:
    """An ops action on each of ``orders``, in another session (a thread has its own connection), running until the
    block ends: what a bulk run that reaches one of them meets."""
    held, release = threading.Event(), threading.Event()

    def another_action() -> None:
        try:
            with contextlib.ExitStack() as actions:
                for order in orders:
                    assert actions.enter_context(claim_locks.exclusive("ops-action", order))
                held.set()
                release.wait(60)
        finally:
            connection.close()

    holder = threading.Thread(target=another_action)
    holder.start()
    try:
        assert held.wait(30)
        yield
    finally:
        release.set()
        holder.join()


def log_count(order_id: uuid.UUID) -> int:
    return CheckpointLog.objects.filter(trace_id=order_id).count()


def test_three_hundred_dead_letters_are_redriven_in_one_action(outage, settings):
    settings.TPFGO_BULK_REMEDIATION_BATCH = 50
    orders = outage(300)
    found = bulk_selection.select(bulk_selection.parse("dead_letter", step="payment_authorized"))
    assert set(found) == set(orders) and len(found) == 300

    shown = bulk_remediation.preview("redrive", found)
    assert (shown["allowed"], shown["refused"]) == (300, 0)
    run = bulk_remediation.submit("redrive", bulk_remediation.plan_of(shown), **WHO)
    assert str(run.id) == shown["runId"]

    batches = 0
    progress = {"finished": False}
    while not progress["finished"]:
        progress = bulk_remediation.advance(run.id)
        batches += 1
        assert progress["processed"] == min(300, 50 * batches)

    assert batches == 6
    assert (progress["done"], progress["skipped"], progress["failed"]) == (300, 0, 0)
    assert Counter(state.order_view(o).state for o in orders) == {"COMPLETED": 300}
    per_order = OpsAction.objects.filter(action="redrive")
    assert per_order.count() == 300 and set(per_order.values_list("trace_id", flat=True)) == set(orders)
    assert all(a.result["bulkRunId"] == str(run.id) for a in per_order)
    batch = OpsAction.objects.get(action="bulk-redrive")
    assert (batch.trace_id, batch.result["total"], batch.result["done"]) == (run.id, 300, 300)
    assert set(batch.result["opsActionIds"]) == {str(a.pk) for a in per_order}
    assert BulkRunResult.objects.filter(run=run, outcome="done").count() == 300


def test_an_order_that_moved_since_the_preview_is_skipped_reported_and_untouched(outage):
    orders = outage(5)
    shown = bulk_remediation.preview("redrive", orders)
    moved = orders[2]
    # Between the preview and the run, someone redrives one order by hand: it moves on.
    single = ops_actions.preview("redrive", moved)
    ops_actions.execute("redrive", moved, expected_seq=single["expectedSeq"], actor="ops:kim", reason="by hand")
    rows_of_moved, actions_before = log_count(moved), OpsAction.objects.count()

    run = bulk_remediation.submit("redrive", bulk_remediation.plan_of(shown), **WHO)
    progress = bulk_remediation.run_to_end(run.id)

    assert (progress["done"], progress["skipped"], progress["failed"]) == (4, 1, 0)
    skipped = BulkRunResult.objects.get(run=run, outcome="skipped")
    assert skipped.trace_id == moved and skipped.ops_action_id is None
    assert skipped.detail.startswith("moved since the preview: the trace changed since the preview")
    assert log_count(moved) == rows_of_moved
    assert not OpsAction.objects.filter(trace_id=moved, result__bulkRunId=str(run.id)).exists()
    assert OpsAction.objects.count() == actions_before + 4 + 1
    listed = {r["orderId"]: r["outcome"] for r in bulk_run_progress.results(run.id)}
    assert listed[str(moved)] == "skipped" and Counter(listed.values()) == {"done": 4, "skipped": 1}


def test_resubmitting_the_same_preview_inserts_nothing_new(outage):
    orders = outage(4)
    shown = bulk_remediation.preview("redrive", orders)
    run = bulk_remediation.submit("redrive", bulk_remediation.plan_of(shown), **WHO)
    bulk_remediation.run_to_end(run.id)
    before = all_insert_only_counts()

    again = bulk_remediation.submit("redrive", bulk_remediation.plan_of(shown), actor="ops:kim", reason="twice")
    progress = bulk_remediation.run_to_end(again.id)

    assert again.id == run.id and again.actor == "ops:erin"
    assert all_insert_only_counts() == before
    assert (progress["done"], progress["finished"]) == (4, True)


def test_a_run_that_stopped_half_way_is_continued_by_the_beat_task_without_acting_twice(outage, settings):
    from checkout import tasks

    settings.TPFGO_BULK_REMEDIATION_BATCH = 2
    settings.TPFGO_BULK_REMEDIATION_IDLE_SECONDS = 0
    orders = outage(5)
    run = bulk_remediation.submit(
        "redrive", bulk_remediation.plan_of(bulk_remediation.preview("redrive", orders)), **WHO
    )
    assert bulk_remediation.advance(run.id)["processed"] == 2  # then the process dies
    # It died after acting on the third order, before storing that order's result.
    third = uuid.UUID(run.plan[2][0])
    ops_actions.execute(
        "redrive",
        third,
        expected_seq=run.plan[2][1],
        action_id=bulk_run_ids.order_action_id(run.id, third),
        note={"bulkRunId": str(run.id)},
        **WHO,
    )

    assert tasks.continue_bulk_remediation() == 1

    progress = bulk_run_progress.progress(run.id)
    assert (progress["done"], progress["finished"]) == (5, True)
    assert OpsAction.objects.filter(action="redrive").count() == 5
    assert BulkRunResult.objects.get(run=run, trace_id=third).detail.endswith("(recorded before the run stopped)")
    assert Counter(state.order_view(o).state for o in orders) == {"COMPLETED": 5}
    assert tasks.continue_bulk_remediation() == 0


def test_a_redrive_that_fails_again_is_reported_as_failed(settings, demo_data):
    settings.TPFGO_RETRY_POLICIES = ONE_ATTEMPT
    down = [uuid.UUID(p.view["orderId"]) for p in place_orders([(order_body(paymentToken="tok_down"), "down-1")])]

    progress = bulk_remediation.run_to_end(
        bulk_remediation.submit(
            "redrive", bulk_remediation.plan_of(bulk_remediation.preview("redrive", down)), **WHO
        ).id
    )

    assert (progress["done"], progress["failed"]) == (0, 1)
    result = BulkRunResult.objects.get()
    assert result.detail.startswith("the re-run failed again") and result.ops_action_id is not None
    assert state.order_view(down[0]).stalled.dead_lettered  # type: ignore[union-attr]


def test_the_command_exits_1_when_an_order_of_its_run_failed(settings, demo_data, capsys):
    settings.TPFGO_RETRY_POLICIES = ONE_ATTEMPT
    place_orders([(order_body(paymentToken="tok_down"), "down-2")])

    with pytest.raises(CommandError, match=r"bulk run [0-9a-f-]+: 1 of 1 orders failed"):
        call_command("remediate", "redrive", "--state", "dead_letter", "--reason", "gateway back?")

    ran = json.loads(capsys.readouterr().out)  # every order's result is printed first
    assert (ran["done"], ran["failed"], ran["finished"]) == (0, 1, True)
    assert [r["outcome"] for r in ran["results"]] == ["failed"]


def test_a_bulk_run_needs_a_reason_and_refuses_bad_filters_storing_nothing(outage):
    orders = outage(2)
    plan = bulk_remediation.plan_of(bulk_remediation.preview("redrive", orders))
    before = all_insert_only_counts()
    with pytest.raises(InvalidArgument) as missing:
        bulk_remediation.submit("redrive", plan, actor="ops:erin", reason=" ")
    assert [d.field for d in missing.value.details] == ["reason"]
    with pytest.raises(InvalidArgument) as bad:
        bulk_selection.parse("everything", since="yesterday", limit="0")
    assert [d.field for d in bad.value.details] == ["state", "since", "limit"]
    with pytest.raises(InvalidArgument):
        bulk_selection.parse("waiting", step="payment_authorized")
    with pytest.raises(InvalidArgument):
        bulk_remediation.submit("redrive", plan + plan[:1], **WHO)
    assert all_insert_only_counts() == before and BulkRun.objects.count() == 0


def test_filters_select_by_step_code_and_state(outage, demo_data):
    orders = outage(3)
    review = uuid.UUID(place_orders([(order_body(consumer="dave"), "review-1")])[0].view["orderId"])

    def chosen(state: str = "dead_letter", **filters) -> set[uuid.UUID]:
        return set(bulk_selection.select(bulk_selection.parse(state, **filters)))

    assert chosen(code="PAYMENT_GATEWAY_UNAVAILABLE") == set(orders)
    assert chosen(code="NO_COURIER_AVAILABLE") == set()
    assert chosen(pipeline="consumer-validation", step="payment_authorized", limit=2) <= set(orders)
    assert len(chosen(limit=2)) == 2
    assert chosen("stalled") == set(orders)
    assert chosen("waiting") == {review}


def test_waiting_covers_every_await_with_a_deadline_and_filters_by_await(demo_data):
    review = uuid.UUID(place(consumer="dave").view["orderId"])
    done = uuid.UUID(place().view["orderId"])
    accepting = {
        uuid.UUID(place(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view["orderId"])
        for _ in range(2)
    }
    Courier.objects.filter(completion_mode=Courier.AUTO).update(available=False)
    Courier.objects.filter(id="courier-max").update(available=True)
    pickup = uuid.UUID(place().view["orderId"])
    dropoff = place().view
    services.pickup(dropoff["dispatchId"])
    dropping = uuid.UUID(dropoff["orderId"])

    def chosen(**filters) -> list[uuid.UUID]:
        return bulk_selection.select(bulk_selection.parse("waiting", **filters))

    every = chosen()
    assert len(every) == 5 and set(every) == accepting | {pickup, dropping, review}
    assert done not in every
    assert set(chosen(pipeline="restaurant-acceptance")) == accepting
    assert chosen(pipeline="delivery-execution", step="order_picked_up") == [pickup]
    assert chosen(step="order_delivered") == [dropping]
    assert chosen(pipeline="order-finalization", step="terminal_order_state") == [review]
    assert chosen(pipeline="delivery-execution") == [dropping, pickup]  # newest wait first
    assert len(chosen(limit=3)) == 3
    assert len(chosen(since=timezone.now() - datetime.timedelta(hours=1))) == 5
    assert chosen(since=timezone.now() + datetime.timedelta(seconds=1)) == []  # opened since: none yet
    for bad in ({"step": "payment_authorized"}, {"pipeline": "dispatch"}, {"code": "NO_COURIER_AVAILABLE"}):
        with pytest.raises(InvalidArgument):
            bulk_selection.parse("waiting", **bad)


def test_the_command_previews_many_orders_inserting_nothing_then_runs_them(outage, capsys):
    orders = outage(3)
    before = all_insert_only_counts()

    call_command("remediate", "redrive", "--state", "dead_letter", "--step", "payment_authorized", "--preview")

    shown = json.loads(capsys.readouterr().out)
    assert all_insert_only_counts() == before
    assert {o["orderId"] for o in shown["orders"]} == {str(o) for o in orders} and shown["allowed"] == 3
    assert [i["type"] for i in shown["orders"][0]["inserts"]][:2] == ["RetryScheduled", "RetryClaim"]

    with pytest.raises(CommandError, match="INVALID_ARGUMENT"):
        call_command("remediate", "redrive", "--state", "dead_letter")
    with pytest.raises(CommandError, match="not both"):
        call_command("remediate", "redrive", str(orders[0]), "--step", "payment_authorized", "--reason", "x")
    assert all_insert_only_counts() == before

    call_command("remediate", "redrive", "--code", "PAYMENT_GATEWAY_UNAVAILABLE", "--reason", "gateway back")
    ran = json.loads(capsys.readouterr().out)
    assert (ran["done"], ran["finished"], len(ran["results"])) == (3, True, 3)
    assert OpsAction.objects.filter(action="redrive", reason="gateway back").count() == 3


@pytest.mark.parametrize("seq", [0, -1, 2**63, 10**30])
def test_a_plan_whose_expected_position_is_no_log_position_is_refused_and_stores_nothing(db, seq):
    before = all_insert_only_counts()
    with pytest.raises(InvalidArgument, match="no log position"):
        bulk_remediation.submit("redrive", [(uuid.uuid4(), seq, 0)], **WHO)
    assert all_insert_only_counts() == before and BulkRun.objects.count() == 0


def test_continuing_a_run_under_another_action_or_with_orders_is_refused_and_runs_nothing(outage, settings):
    settings.TPFGO_BULK_REMEDIATION_BATCH = 1
    orders = outage(2)
    run = bulk_remediation.submit(
        "redrive", bulk_remediation.plan_of(bulk_remediation.preview("redrive", orders)), **WHO
    )
    before = all_insert_only_counts()
    with pytest.raises(CommandError, match=f"FAILED_PRECONDITION: bulk run {run.id} is a redrive run, not ops-cancel"):
        call_command("remediate", "ops-cancel", "--run", str(run.id))
    with pytest.raises(CommandError, match="name no order and no filter with it"):
        call_command("remediate", "redrive", str(orders[0]), "--run", str(run.id))
    with pytest.raises(CommandError, match="name no order and no filter with it"):
        call_command("remediate", "redrive", "--state", "dead_letter", "--run", str(run.id))
    assert all_insert_only_counts() == before


def test_a_run_its_console_is_advancing_is_left_to_it_by_a_beat_node_whose_clock_is_ahead(outage, settings):
    settings.TPFGO_BULK_REMEDIATION_BATCH = 2
    orders = outage(3)
    run = bulk_remediation.submit(
        "redrive", bulk_remediation.plan_of(bulk_remediation.preview("redrive", orders)), **WHO
    )
    assert bulk_remediation.advance(run.id)["processed"] == 2  # the console's tab is at it

    with node_clock(15):  # beat's node; before: the run looked 15 minutes idle, and beat ran it beside the console
        assert bulk_run_progress.unfinished(60) == []
    assert BulkRunResult.objects.filter(run=run).count() == 2


def test_a_run_a_console_whose_clock_is_behind_is_advancing_is_left_to_it_by_beat(outage, settings):
    settings.TPFGO_BULK_REMEDIATION_BATCH = 2
    orders = outage(3)
    with node_clock(-15):  # the console's node; before: its run and results were written 15 minutes old
        run = bulk_remediation.submit(
            "redrive", bulk_remediation.plan_of(bulk_remediation.preview("redrive", orders)), **WHO
        )
        assert bulk_run_progress.unfinished(60) == []  # submitted, not yet advanced: not idle either
        assert bulk_remediation.advance(run.id)["processed"] == 2

    assert bulk_run_progress.unfinished(60) == []  # before: the run looked 15 minutes idle, and beat took it over
    assert BulkRunResult.objects.filter(run=run).count() == 2


def test_a_bulk_redrive_whose_orders_failed_again_runs_again_from_a_new_preview(settings, demo_data):
    settings.TPFGO_RETRY_POLICIES = ONE_ATTEMPT
    flaky = [uuid.UUID(p.view["orderId"]) for p in place_orders([(order_body(paymentToken="tok_flaky_2"), "fl-1")])]

    def redrive() -> tuple[uuid.UUID, dict]:
        run = bulk_remediation.submit(
            "redrive", bulk_remediation.plan_of(bulk_remediation.preview("redrive", flaky)), **WHO
        )
        return run.id, bulk_remediation.run_to_end(run.id)

    first, failed = redrive()  # the gateway still refuses: the redrive fails again, the order is dead-lettered again
    second, done = redrive()  # the gateway is back: a new preview of the same order at the same position

    assert (failed["failed"], done["done"], second != first) == (1, 1, True)
    assert state.order_view(flaky[0]).state == "COMPLETED"
    assert BulkRun.objects.count() == 2 and OpsAction.objects.filter(action="redrive").count() == 2


def test_the_command_refuses_a_plan_that_already_ran_saying_when_and_its_counts_and_runs_nothing(outage, capsys):
    (order,) = outage(1)
    command = ["remediate", "redrive", "--state", "dead_letter", "--actor", "ops:erin", "--reason", "gateway back"]
    with held_by_another_action(order), pytest.raises(CommandError, match="1 of 1 orders failed"):
        call_command(*command)
    first = json.loads(capsys.readouterr().out)
    assert [r["detail"] for r in first["results"]] == [
        "FAILED_PRECONDITION: another ops action on this trace is running; preview again once it has ended"
    ]
    run, before = BulkRun.objects.get(), all_insert_only_counts()
    finished = OpsAction.objects.get(action="bulk-redrive").created_at

    # The same command again: the order is where the run left it, so the preview's plan is the run's plan.
    with pytest.raises(CommandError) as refused:
        call_command(*command)

    def at(when: datetime.datetime) -> str:
        return f"{when.astimezone(datetime.UTC):%Y-%m-%d %H:%M:%S} UTC"

    assert str(refused.value) == (
        f"FAILED_PRECONDITION: bulk run {run.id} already ran this plan: submitted {at(run.created_at)} by ops:erin, "
        f"finished {at(finished)}: 0 done, 0 skipped, 1 failed of 1; nothing was run again; to run its orders once "
        f"more as a new run: --again {run.id}"
    )
    assert capsys.readouterr().out == ""  # no old results printed as new
    assert all_insert_only_counts() == before
    assert (BulkRun.objects.count(), BulkRunResult.objects.count(), OpsAction.objects.count()) == (1, 1, 1)


def test_a_run_whose_orders_all_failed_runs_again_with_again_once_per_finished_run_recorded_as_a_re_run(outage, capsys):
    orders = outage(2)

    def counts(shown: dict) -> tuple[int, int, int, int, str | None]:
        return shown["done"], shown["skipped"], shown["failed"], shown["total"], shown.get("againOf")

    command = ["remediate", "redrive", "--state", "dead_letter", "--actor", "ops:erin", "--reason", "gateway back"]
    with held_by_another_action(*orders):
        with pytest.raises(CommandError, match="2 of 2 orders failed"):
            call_command(*command)
        first = BulkRun.objects.get()
        assert counts(json.loads(capsys.readouterr().out)) == (0, 0, 2, 2, None)
        # The same command again is refused, and says how to run the orders once more.
        with pytest.raises(CommandError) as refused:
            call_command(*command)
        assert str(refused.value).endswith(
            f"2 failed of 2; nothing was run again; to run its orders once more as a new run: --again {first.id}"
        )
        # --again: a new run of the same plan. The orders are still held, so they fail again, each tried once more.
        with pytest.raises(CommandError, match="2 of 2 orders failed"):
            call_command(*command, "--again", str(first.id))
        second = BulkRun.objects.exclude(pk=first.id).get()
        shown = json.loads(capsys.readouterr().out)
        assert (shown["runId"], counts(shown)) == (str(second.id), (0, 0, 2, 2, str(first.id)))
        assert BulkRunResult.objects.filter(run=second, outcome=BulkRunResult.FAILED).count() == 2
        before = all_insert_only_counts()
        # The same --again once more is refused like any finished run: its re-run already ran.
        with pytest.raises(CommandError) as twice:
            call_command(*command, "--again", str(first.id))
    assert f"FAILED_PRECONDITION: bulk run {second.id} already ran this plan:" in str(twice.value)
    assert str(twice.value).endswith(
        f"2 failed of 2; nothing was run again; to run its orders once more as a new run: --again {second.id}"
    )
    assert capsys.readouterr().out == "" and all_insert_only_counts() == before

    # Once nothing holds the orders: --again on the re-run runs both of them.
    call_command(*command, "--again", str(second.id))
    third = BulkRun.objects.exclude(pk__in=[first.id, second.id]).get()
    shown = json.loads(capsys.readouterr().out)
    assert (shown["runId"], counts(shown)) == (str(third.id), (2, 0, 0, 2, str(second.id)))
    assert [state.order_view(o).state for o in orders] == ["COMPLETED", "COMPLETED"]
    assert (third.again_of, second.again_of, first.again_of) == (second.id, first.id, None)
    batch = OpsAction.objects.get(action="bulk-redrive", trace_id=third.id)
    assert (batch.result["againOf"], batch.result["done"], batch.result["failed"]) == (str(second.id), 2, 0)
    redrives = OpsAction.objects.filter(action="redrive")
    assert sorted((r.trace_id, r.result["bulkRunId"], r.result["againOf"]) for r in redrives) == sorted(
        (o, str(third.id), str(second.id)) for o in orders
    )
    assert (BulkRun.objects.count(), BulkRunResult.objects.count(), OpsAction.objects.count()) == (3, 6, 5)


def test_again_refuses_a_run_of_another_plan_one_not_finished_or_none_storing_nothing(outage, capsys):
    orders = outage(3)
    shown = bulk_remediation.preview("redrive", bulk_selection.select(bulk_selection.parse("dead_letter")))
    running = bulk_remediation.submit("redrive", bulk_remediation.plan_of(shown), actor="ops:ann", reason="x")
    before = all_insert_only_counts()
    who = ["--actor", "ops:erin", "--reason", "again"]
    refusals = []
    for args in (
        ["--state", "dead_letter", "--again", str(running.id)],
        [str(orders[0]), str(orders[1]), "--again", str(running.id)],
        ["--state", "dead_letter", "--again", "run-7"],
        ["--state", "dead_letter", "--again", str(uuid.UUID(int=7))],
        [str(orders[0]), "--again", str(running.id)],
        ["--run", str(running.id), "--again", str(running.id)],
    ):
        with pytest.raises(CommandError) as refused:
            call_command("remediate", "redrive", *args, *who)
        refusals.append(str(refused.value))

    assert refusals == [
        f"FAILED_PRECONDITION: bulk run {running.id} has not finished: continue it (its id as --run) rather than run "
        "it again",
        f"FAILED_PRECONDITION: bulk run {running.id} ran another plan (another action or parameters, or its orders "
        "moved or were acted on since): this plan is a new run of its own; submit it without naming a run to repeat",
        "INVALID_ARGUMENT: 'run-7' is not a bulk run id (--again: malformed)",
        f"NOT_FOUND: bulk run {uuid.UUID(int=7)} not found",
        "--again repeats a bulk run: one order is acted on again without it",
        "--run continues a stored run; --again makes a new run of a finished one: not both",
    ]
    assert capsys.readouterr().out == "" and all_insert_only_counts() == before


def test_the_same_orders_in_another_order_are_the_same_plan_and_one_run(outage):
    orders = outage(3)
    shown = bulk_remediation.preview("redrive", orders)
    backwards = bulk_remediation.preview("redrive", orders[::-1])
    assert backwards["runId"] == shown["runId"]

    bulk_remediation.submit("redrive", bulk_remediation.plan_of(shown), **WHO)
    before = all_insert_only_counts()
    again = bulk_remediation.submit("redrive", bulk_remediation.plan_of(backwards), actor="ops:kim", reason="typed")
    assert (str(again.id), again.actor, again.reason) == (shown["runId"], "ops:erin", WHO["reason"])
    assert all_insert_only_counts() == before


def test_a_run_recorded_under_the_id_of_its_orders_order_is_still_found_continued_and_repeated(outage, monkeypatch):
    """Runs stored when the id followed the order of the orders keep their ids: their results and ops actions
    carry them."""
    plan = bulk_remediation.plan_of(bulk_remediation.preview("redrive", sorted(outage(2), reverse=True)))
    with monkeypatch.context() as before_ids_were_sorted:
        before_ids_were_sorted.setattr(bulk_run_ids, "run_id", bulk_run_ids._derived)
        recorded = bulk_remediation.submit("redrive", plan, **WHO)
    assert recorded.id != bulk_run_ids.run_id("redrive", {}, plan)

    found = bulk_remediation.submit("redrive", plan, actor="ops:kim", reason="the same plan after the upgrade")
    assert (found.id, bulk_run_ids.last_run("redrive", {}, plan)) == (recorded.id, recorded)
    assert bulk_remediation.run_to_end(found.id)["done"] == 2
    assert bulk_remediation.check_again(recorded.id, "redrive", {}, plan) == recorded.id
    repeat = bulk_remediation.submit("redrive", plan, again_of=recorded.id, actor="ops:kim", reason="once more")
    assert repeat.id == bulk_run_ids.run_id("redrive", {}, plan, again_of=recorded.id) != recorded.id
    assert bulk_run_ids.last_run("redrive", {}, plan) == repeat and BulkRun.objects.count() == 2
