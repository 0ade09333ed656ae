"""A fork cut off mid-run is taken up by the sweeper on the fork's own branch: cut between two of its steps, its
last checkpoint is an open position like any other, also once the parent's superseded retry went on past it; cut
before its first step committed, the fork has no position of its own (its fork point is the parent's, which went
on), and the sweep runs the fork again from that point."""

from __future__ import annotations

import dataclasses
import socket
import uuid

import pytest
import structlog
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client import REGISTRY

from checkout import ops_actions, services
from checkout.composition import COMPOSITION
from checkout.delivery_assigned.models import DeliveryAssigned
from checkout.models import Courier, Restaurant
from checkout.order_approved.models import OrderApproved
from checkout.order_ready_for_dispatch.models import OrderReadyForDispatch
from checkout.terminal_order_state.models import TerminalOrderState
from pipelines import tasks
from pipelines.engine.runner import Engine
from pipelines.models import (
    MAIN_BRANCH,
    CheckpointLog,
    ForkedFrom,
    OpsAction,
    ParkedItem,
    Resumption,
    SweepDispatch,
)
from pipelines.recovery import forks, retries, sweeper
from tests.checkout.conftest import place
from tests.checkout.facts import completed_order_rows
from tests.pipelines.test_frontier import later

pytestmark = pytest.mark.django_db
RERUN = completed_order_rows(after="consumer-validation")  # what a fork from OrderApproved writes
ACCEPTANCE = "restaurant-acceptance.acceptance_decision"
SWEEP_QUERIES = {"sqlite": [35, 10, 10], "postgresql": [45, 14, 14]}  # three sweeps of the same history


class Killed(BaseException):
    """The process died: nothing after this point of the run happened."""


@pytest.fixture(autouse=True)
def _gateway_and_inline_resumes(settings):
    settings.TPFGO_PAYMENT_GATEWAY = "tests.checkout.recording_gateway.KeyedGateway"
    settings.TPFGO_RESUME_ENQUEUE = ""


def killed(*args: object, **kwargs: object) -> None:
    raise Killed


def fork(order_id: str, checkpoint_id: uuid.UUID) -> None:
    shown = ops_actions.preview("fork", order_id, checkpoint_id=str(checkpoint_id))
    assert shown["allowed"], shown["why"]
    ops_actions.execute(
        "fork", order_id, expected_seq=shown["expectedSeq"], checkpoint_id=str(checkpoint_id), actor="ops", reason="t"
    )


def terminal_branches(order_id: str) -> list[str]:
    return sorted(TerminalOrderState.objects.filter(order_id=order_id).values_list("branch", flat=True))


def test_a_fork_cut_between_two_of_its_steps_is_resumed_on_its_branch(demo_data, settings):
    order_id = place().view["orderId"]
    site = settings.TPFGO_COMPOSITION
    settings.TPFGO_COMPOSITION = "tests.checkout.test_recovery.STOPS_AFTER_COMMITMENT"
    fork(order_id, OrderApproved.objects.get(order_id=order_id).pk)  # the process dies after the kitchen commits
    settings.TPFGO_COMPOSITION = site
    forked = ForkedFrom.objects.get(trace_id=order_id)
    commitment = CheckpointLog.objects.filter(trace_id=order_id, step="kitchen_commitment").latest("seq")

    report = sweeper.sweep(now=later(300))

    assert report.resumes == [(order_id, commitment.seq)]
    assert services.get_order(order_id)["state"] == "COMPLETED"
    assert terminal_branches(order_id) == sorted([MAIN_BRANCH, forked.branch])
    assert CheckpointLog.objects.filter(trace_id=order_id).count() == completed_order_rows() + RERUN


def test_a_fork_cut_before_its_first_step_committed_is_run_again_from_its_fork_point(demo_data, monkeypatch):
    order_id = place().view["orderId"]
    approved = OrderApproved.objects.get(order_id=order_id)
    logged = CheckpointLog.objects.filter(trace_id=order_id).count()

    with monkeypatch.context() as patched:
        patched.setattr(Engine, "fork", killed)
        with pytest.raises(Killed):
            fork(order_id, approved.pk)
    forked = ForkedFrom.objects.get(trace_id=order_id)  # recorded, then the process died: nothing on its branch
    assert CheckpointLog.objects.filter(trace_id=order_id).count() == logged
    assert terminal_branches(order_id) == [MAIN_BRANCH]

    assert sweeper.sweep(now=later(300), dry_run=True).resumes == [(order_id, forked.from_seq)]
    assert CheckpointLog.objects.filter(trace_id=order_id).count() == logged and not SweepDispatch.objects.exists()

    report = sweeper.sweep(now=later(300))

    assert report.resumes == [(order_id, forked.from_seq)]
    assert terminal_branches(order_id) == sorted([MAIN_BRANCH, forked.branch])
    assert services.get_order(order_id)["state"] == "COMPLETED"
    assert CheckpointLog.objects.filter(trace_id=order_id).count() == logged + RERUN
    assert Resumption.objects.count() == 0  # the fork point is the parent's position: no claim of it is made
    assert list(SweepDispatch.objects.values_list("subject", "number", "send")) == [(forked.id, forked.from_seq, 1)]
    audit = OpsAction.objects.get(trace_id=order_id)  # the sweeper's; the operator's fork row is still missing
    assert (audit.action, audit.actor, audit.preview_seq, audit.target_id) == (
        "take-up-fork",
        "sweeper",
        None,
        approved.pk,
    )
    assert audit.reason == (
        "the fork's run was cut off before its first step committed: the sweep ran it again from its fork point"
    )
    result = audit.result
    assert (result["forkId"], result["parentBranch"], result["fromId"]) == (
        str(forked.id),
        MAIN_BRANCH,
        str(approved.pk),
    )
    assert result["takenUpAtSeq"] == forked.from_seq
    rerun = CheckpointLog.objects.filter(trace_id=order_id).order_by("seq").values_list("checkpoint_id", flat=True)
    assert [row["id"] for row in result["inserted"]] == [str(checkpoint) for checkpoint in rerun[logged:]]
    assert (result["closedParkedIds"], result["closedWaitIds"]) == ([], [])
    assert "resent" not in result
    # The fork went on: the next sweeps find nothing to do, and record nothing more.
    assert sweeper.sweep(now=later(600)).resumes == []
    assert sweeper.sweep(now=later(3600)).resumes == []
    assert CheckpointLog.objects.filter(trace_id=order_id).count() == logged + RERUN
    assert OpsAction.objects.filter(trace_id=order_id).count() == 1
    # The operator runs the same fork again to record its own row (who and why): it replays beside the sweeper's.
    fork(order_id, approved.pk)
    assert sorted(OpsAction.objects.filter(trace_id=order_id).values_list("action", "actor")) == [
        ("fork", "ops"),
        ("take-up-fork", "sweeper"),
    ]
    assert CheckpointLog.objects.filter(trace_id=order_id).count() == logged + RERUN


def test_a_fork_cut_between_its_steps_is_resumed_after_the_parents_retry_went_on_past_it(
    demo_data, settings, monkeypatch
):
    """The fork dies after its kitchen commitment, before closing the parent's parked dispatch; that item's retry then
    completes the parent. Its rows are downstream of the fork's commitment, so the frontier, judging by pipelines,
    took the fork's position out: the order's view (the fork's) stayed PREPARING for good."""
    Courier.objects.update(available=False)
    order_id = place().view["orderId"]
    parked = ParkedItem.objects.get(trace_id=order_id)  # the parent's dispatch, retrying for want of a courier
    site = settings.TPFGO_COMPOSITION
    settings.TPFGO_COMPOSITION = "tests.checkout.test_recovery.STOPS_AFTER_COMMITMENT"
    with monkeypatch.context() as patched:
        patched.setattr(forks, "close_superseded", killed)
        with pytest.raises(Killed):
            fork(order_id, OrderApproved.objects.get(order_id=order_id).pk)
    settings.TPFGO_COMPOSITION = site
    forked = ForkedFrom.objects.get(trace_id=order_id)
    commitment = CheckpointLog.objects.filter(trace_id=order_id, step="kitchen_commitment").latest("seq")
    Courier.objects.update(available=True)
    assert retries.run_attempt(parked.pk, 2) == "inserted"
    assert terminal_branches(order_id) == [MAIN_BRANCH]
    assert services.get_order(order_id)["state"] == "PREPARING"

    report = sweeper.sweep(now=later(300))

    assert report.resumes == [(order_id, commitment.seq)]
    assert terminal_branches(order_id) == sorted([MAIN_BRANCH, forked.branch])
    assert services.get_order(order_id)["state"] == "COMPLETED"
    assert list(SweepDispatch.objects.values_list("subject", "number", "send")) == [
        (uuid.UUID(order_id), commitment.seq, 1)
    ]
    audit = OpsAction.objects.get(trace_id=order_id)
    assert (audit.action, audit.actor, audit.target_id) == ("take-up-fork", "sweeper", commitment.checkpoint_id)
    assert audit.reason == (
        f"the fork's run was cut off after its checkpoint at position {commitment.seq}: the sweep resumed it there"
    )
    assert (audit.result["forkId"], audit.result["takenUpAtSeq"]) == (str(forked.id), commitment.seq)
    assert audit.result["closedParkedIds"] == []  # the parent's dispatch: its retry succeeded first
    assert sweeper.sweep(now=later(3600)).resumes == []


def test_a_stall_of_the_parent_after_the_fork_point_is_not_resumed_beside_the_fork(demo_data, settings, monkeypatch):
    """The parent stalled after the kitchen's commitment; ops forked it from the approval and the fork's run died
    before its first step. The sweep runs the fork again and leaves the parent's stall, which the order's view no
    longer shows: resuming it completed the parent too, with a second courier assigned."""
    site = settings.TPFGO_COMPOSITION
    settings.TPFGO_COMPOSITION = "tests.checkout.test_recovery.STOPS_AFTER_COMMITMENT"
    order_id = place().view["orderId"]
    settings.TPFGO_COMPOSITION = site
    stall = CheckpointLog.objects.get(trace_id=order_id, step="kitchen_commitment")
    with monkeypatch.context() as patched:
        patched.setattr(Engine, "fork", killed)
        with pytest.raises(Killed):
            fork(order_id, OrderApproved.objects.get(order_id=order_id).pk)
    forked = ForkedFrom.objects.get(trace_id=order_id)

    report = sweeper.sweep(now=later(300))

    assert report.resumes == [(order_id, forked.from_seq)]
    assert report.settled == [(order_id, stall.seq, "superseded by a fork")]
    assert services.get_order(order_id)["state"] == "COMPLETED"
    assert terminal_branches(order_id) == [forked.branch]
    assert list(DeliveryAssigned.objects.filter(order_id=order_id).values_list("branch", flat=True)) == [forked.branch]
    decided = Resumption.objects.values_list("seq", "decision", "detail")
    assert list(decided) == [(stall.seq, "skipped", "superseded by a fork")]


def test_a_superseded_stall_is_decided_once_and_the_next_sweep_reads_it_no_more(demo_data, settings):
    """The parent stalled after the kitchen's commitment; a fork from the approval waits for the restaurant, which
    now accepts by hand. Every sweep found the stall, read its trace's forks and the branch of its checkpoint, and
    left it undecided for the next."""
    site = settings.TPFGO_COMPOSITION
    settings.TPFGO_COMPOSITION = "tests.checkout.test_recovery.STOPS_AFTER_COMMITMENT"
    order_id = place().view["orderId"]
    settings.TPFGO_COMPOSITION = site
    stall = CheckpointLog.objects.get(trace_id=order_id, step="kitchen_commitment")
    Restaurant.objects.update(acceptance_mode=Restaurant.MANUAL)
    fork(order_id, OrderApproved.objects.get(order_id=order_id).pk)
    assert services.get_order(order_id)["state"] == "AWAITING_ACCEPTANCE"
    sweeps = []

    for _ in range(3):
        with CaptureQueriesContext(connection) as queries:
            report = sweeper.sweep(now=later(300))
        sweeps.append((report.settled, len(queries)))

    # The first sweep decides the stall (its claim); the next read neither it nor its trace's forks: before, each
    # sweep cost 15 queries on SQLite (19 on PostgreSQL), the first 28 (35).
    assert [count for _, count in sweeps] == SWEEP_QUERIES[connection.vendor]
    waiting = CheckpointLog.objects.get(trace_id=order_id, checkpoint_type="TicketCreated", seq__gt=stall.seq)
    assert [settled for settled, _ in sweeps] == [
        [(order_id, stall.seq, "superseded by a fork"), (order_id, waiting.seq, "awaits " + ACCEPTANCE)],
        [],
        [],
    ]
    decided = Resumption.objects.order_by("seq").values_list("seq", "decision", "detail")
    assert list(decided) == [
        (stall.seq, "skipped", "superseded by a fork"),
        (waiting.seq, "skipped", "awaits " + ACCEPTANCE),
    ]


# The shipped composition without dispatch: a deploy that removed the pipeline a fork was made in.
WITHOUT_DISPATCH = dataclasses.replace(
    COMPOSITION,
    pipelines=tuple(p for p in COMPOSITION.pipelines if p.name != "dispatch"),
    subscriptions=tuple(s for s in COMPOSITION.subscriptions if s.pipeline != "dispatch"),
)


def test_a_cut_fork_this_composition_cannot_read_is_logged_and_counted_and_the_sweep_goes_on(
    demo_data, settings, monkeypatch
):
    """A fork cut in a pipeline the composition no longer has raised out of the sweep, on every sweep: the other cut
    forks, the aux branches and the hand-offs after it waited for good."""
    unreadable = place().view["orderId"]
    readable = place().view["orderId"]
    with monkeypatch.context() as patched:
        patched.setattr(Engine, "fork", killed)
        for order_id, checkpoint in ((unreadable, DeliveryAssigned), (readable, OrderApproved)):
            with pytest.raises(Killed):
                fork(order_id, checkpoint.objects.get(order_id=order_id).pk)
    lost, cut = (ForkedFrom.objects.get(trace_id=order_id) for order_id in (unreadable, readable))
    assert lost.pipeline == "dispatch" and lost.created_at < cut.created_at  # the sweep finds it first
    settings.TPFGO_COMPOSITION = "tests.checkout.test_fork_recovery.WITHOUT_DISPATCH"
    logged = {order_id: CheckpointLog.objects.filter(trace_id=order_id).count() for order_id in (unreadable, readable)}
    counted = REGISTRY.get_sample_value("tpfgo_sweep_unreadable_total", {"pass": "cut_forks"})

    with structlog.testing.capture_logs() as logs:
        report = sweeper.sweep(now=later(300))

    assert report.resumes == [(readable, cut.from_seq)]
    assert terminal_branches(readable) == [MAIN_BRANCH]  # dispatch is gone: the fork stops before the terminal
    up_to_kitchen = RERUN - completed_order_rows(after="kitchen-preparation")
    assert CheckpointLog.objects.filter(trace_id=readable).count() == logged[readable] + up_to_kitchen
    assert CheckpointLog.objects.filter(trace_id=unreadable).count() == logged[unreadable]
    assert list(SweepDispatch.objects.values_list("subject", flat=True)) == [cut.id]  # nothing recorded for it
    assert list(OpsAction.objects.values_list("trace_id", "action")) == [(uuid.UUID(readable), "take-up-fork")]
    assert [(e["trace_id"], e["fork_id"], e["pipeline"]) for e in logs if e["event"] == "sweep.fork_unreadable"] == [
        (unreadable, str(lost.id), "dispatch")
    ]
    assert REGISTRY.get_sample_value("tpfgo_sweep_unreadable_total", {"pass": "cut_forks"}) == counted + 1


# The shipped composition whose dispatch writes another type: a deploy that renamed the checkpoint type a fork was
# made from, and kept its pipeline.
WITHOUT_DELIVERY_ASSIGNED = dataclasses.replace(
    COMPOSITION,
    pipelines=tuple(
        dataclasses.replace(p, steps=(dataclasses.replace(p.steps[0], model=OrderReadyForDispatch),))
        if p.name == "dispatch"
        else p
        for p in COMPOSITION.pipelines
    ),
)
# The shipped composition where nothing takes a delivery up: an order stalls after dispatch.
STOPS_AFTER_DISPATCH = dataclasses.replace(
    COMPOSITION, subscriptions=tuple(s for s in COMPOSITION.subscriptions if s.pipeline != "delivery-execution")
)


def test_a_cut_fork_whose_checkpoint_type_this_composition_lacks_is_counted_unreadable_not_resumed(
    demo_data, settings, monkeypatch
):
    """Its pipeline still there, the fork's checkpoint type gone: the sweep recorded it and counted it as a resume."""
    order_id = place().view["orderId"]
    with monkeypatch.context() as patched:
        patched.setattr(Engine, "fork", killed)
        with pytest.raises(Killed):
            fork(order_id, DeliveryAssigned.objects.get(order_id=order_id).pk)
    lost = ForkedFrom.objects.get(trace_id=order_id)
    settings.TPFGO_COMPOSITION = "tests.checkout.test_fork_recovery.WITHOUT_DELIVERY_ASSIGNED"
    logged = CheckpointLog.objects.filter(trace_id=order_id).count()
    counted = REGISTRY.get_sample_value("tpfgo_sweep_unreadable_total", {"pass": "cut_forks"})

    with structlog.testing.capture_logs() as logs:
        report = sweeper.sweep(now=later(300))

    assert report.resumes == []
    assert CheckpointLog.objects.filter(trace_id=order_id).count() == logged
    assert SweepDispatch.objects.count() == 0 and Resumption.objects.count() == 0
    assert [(e["fork_id"], e["checkpoint_type"]) for e in logs if e["event"] == "sweep.fork_unreadable"] == [
        (str(lost.id), "DeliveryAssigned")
    ]
    assert REGISTRY.get_sample_value("tpfgo_sweep_unreadable_total", {"pass": "cut_forks"}) == counted + 1


def test_a_stalled_position_this_composition_cannot_read_is_counted_and_the_sweep_goes_on(demo_data, settings):
    """Resumed in the sweep (``TPFGO_RESUME_ENQUEUE=""``), a stall in a pipeline the composition no longer has
    raised out of it: the stalls after it were never resumed."""
    settings.TPFGO_COMPOSITION = "tests.checkout.test_fork_recovery.STOPS_AFTER_DISPATCH"
    unreadable = place().view["orderId"]
    settings.TPFGO_COMPOSITION = "tests.checkout.test_recovery.STOPS_AFTER_COMMITMENT"
    readable = place().view["orderId"]
    stall = CheckpointLog.objects.get(trace_id=unreadable, step="delivery_assigned")
    commitment = CheckpointLog.objects.get(trace_id=readable, step="kitchen_commitment")
    assert stall.created_at < commitment.created_at  # the sweep finds it first
    settings.TPFGO_COMPOSITION = "tests.checkout.test_fork_recovery.WITHOUT_DISPATCH"
    logged = CheckpointLog.objects.filter(trace_id=unreadable).count()
    counted = REGISTRY.get_sample_value("tpfgo_sweep_unreadable_total", {"pass": "partial_progress"})

    with structlog.testing.capture_logs() as logs:
        report = sweeper.sweep(now=later(300))

    assert report.resumes == [(readable, commitment.seq)]
    assert CheckpointLog.objects.filter(trace_id=unreadable).count() == logged
    assert CheckpointLog.objects.filter(trace_id=readable, step="order_ready_for_dispatch").count() == 1
    assert not Resumption.objects.filter(trace_id=unreadable, seq=stall.seq).exists()
    assert list(SweepDispatch.objects.values_list("subject", flat=True)) == [uuid.UUID(readable)]
    assert [(e["trace_id"], e["seq"]) for e in logs if e["event"] == "sweep.position_unreadable"] == [
        (unreadable, stall.seq)
    ]
    assert REGISTRY.get_sample_value("tpfgo_sweep_unreadable_total", {"pass": "partial_progress"}) == counted + 1


def test_a_workers_resume_of_a_position_this_composition_cannot_read_fails_counted(demo_data, settings):
    """The sweep's resume sent to a worker (``pipelines.resume_trace``) failed on such a position with nothing
    counted: the runbook's only signal was a traceback in the worker's log."""
    settings.TPFGO_COMPOSITION = "tests.checkout.test_fork_recovery.STOPS_AFTER_DISPATCH"
    order_id = place().view["orderId"]
    stall = CheckpointLog.objects.get(trace_id=order_id, step="delivery_assigned")
    settings.TPFGO_COMPOSITION = "tests.checkout.test_fork_recovery.WITHOUT_DISPATCH"
    logged = CheckpointLog.objects.filter(trace_id=order_id).count()
    counted = REGISTRY.get_sample_value("tpfgo_sweep_unreadable_total", {"pass": "partial_progress"})

    with structlog.testing.capture_logs() as logs, pytest.raises(KeyError, match="DeliveryAssigned"):
        tasks.resume_trace.apply(args=(order_id, stall.seq), task_id="t-1", throw=True)

    assert CheckpointLog.objects.filter(trace_id=order_id).count() == logged
    assert Resumption.objects.count() == 0 and SweepDispatch.objects.count() == 0
    unreadable = [(e["trace_id"], e["seq"], e["worker"]) for e in logs if e["event"] == "sweep.position_unreadable"]
    assert unreadable == [(order_id, stall.seq, f"t-1@{socket.gethostname()}")]
    assert REGISTRY.get_sample_value("tpfgo_sweep_unreadable_total", {"pass": "partial_progress"}) == counted + 1
