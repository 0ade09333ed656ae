"""Backlog figures on /metrics: dead letters, waiting and overdue parked items per pipeline and step."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.utils import timezone

from pipelines.engine import metrics
from pipelines.failures import parking
from pipelines.models import CheckpointLog, ParkedItem, ParkingOutcome, SweepTick
from pipelines.recovery import backlog, sweeper
from tests.lane import composition as lane

pytestmark = pytest.mark.django_db


def figures(now: datetime.datetime | None = None) -> dict[tuple[str, str, str], float]:
    samples = backlog.collect(now)
    return {(name, labels["pipeline"], labels["step"]): value for name, labels, value in samples if labels}


def test_dead_letters_and_parked_items_are_counted_per_pipeline_and_step(lane_engine, settings):
    settings.TPFGO_SWEEP_GRACE_SECONDS = 60
    lane.FAILURES.update({"tokenize": "fatal"})
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    lane.FAILURES.clear()
    lane.FAILURES["index"] = 1
    lane_engine.start("ingest", {"text": "b"}, "doc-2")
    lane_engine.start("ingest", {"text": "c"}, "doc-3")

    assert figures() == {
        ("tpfgo_dead_letters", "ingest", "tokenize"): 1.0,
        ("tpfgo_parked_waiting", "ingest", "index"): 2.0,
    }
    overdue = figures(timezone.now() + datetime.timedelta(minutes=5))
    assert overdue[("tpfgo_parked_overdue", "ingest", "index")] == 2.0


def test_a_scrape_on_a_node_whose_clock_is_ahead_reads_the_figures_by_the_databases_clock(lane_engine, settings):
    settings.TPFGO_SWEEP_GRACE_SECONDS = 60
    lane.FAILURES["index"] = 1
    lane_engine.start("ingest", {"text": "b"}, "doc-2")  # its retry is due now
    assert sweeper.claim_tick("beat-a") is not None  # a sweep ran just now

    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=10), tick=False):  # the scraped node
        samples = backlog.collect()

    # Before: the retry was ten minutes overdue (TPFGoRetriesOverdue paged) and the last sweep ten minutes old.
    assert ("tpfgo_parked_overdue", {"pipeline": "ingest", "step": "index"}, 1.0) not in samples
    assert ("tpfgo_parked_waiting", {"pipeline": "ingest", "step": "index"}, 1.0) in samples
    (age,) = [value for name, _, value in samples if name == "tpfgo_sweep_age_seconds"]
    assert age < 60


def test_the_figures_are_rendered_on_metrics_with_their_help(lane_engine):
    lane.FAILURES["tokenize"] = "fatal"
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    text = metrics.render()
    assert "# TYPE tpfgo_dead_letters gauge" in text
    assert 'tpfgo_dead_letters{pipeline="ingest",step="tokenize"} 1' in text


def test_no_backlog_means_no_samples():
    assert backlog.collect() == []


def test_a_dead_letter_counts_until_ops_end_it_however_old(lane_engine):
    lane.FAILURES["tokenize"] = "fatal"
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    months_later = timezone.now() + datetime.timedelta(days=90)
    assert figures(months_later) == {("tpfgo_dead_letters", "ingest", "tokenize"): 1.0}

    parking.resolve(ParkedItem.objects.get(), ParkingOutcome.CANCELLED, 1, "ops-cancel")
    assert figures(months_later) == {}


def test_before_any_sweep_the_age_runs_from_the_first_logged_checkpoint(lane_engine):
    assert backlog.collect() == []  # nothing to recover: no figure
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    first = CheckpointLog.objects.order_by("created_at").values_list("created_at", flat=True).first()
    later = first + datetime.timedelta(minutes=7)

    assert backlog.collect(later) == [("tpfgo_sweep_age_seconds", {}, 420.0)]  # no beat ever swept: the alert fires

    SweepTick.objects.create(tick=1, node="beat-a", created_at=later - datetime.timedelta(seconds=5))
    assert backlog.collect(later) == [("tpfgo_sweep_age_seconds", {}, 5.0)]


def test_the_age_of_the_last_sweep_is_read_from_its_newest_slot():
    now = timezone.now()
    SweepTick.objects.create(tick=10, node="beat-a", created_at=now - datetime.timedelta(seconds=95))
    SweepTick.objects.create(tick=12, node="beat-b", created_at=now - datetime.timedelta(seconds=35))
    SweepTick.objects.create(tick=11, node="beat-a", created_at=now - datetime.timedelta(seconds=65))

    assert backlog.collect(now) == [("tpfgo_sweep_age_seconds", {}, 35.0)]
    assert "# TYPE tpfgo_sweep_age_seconds gauge" in metrics.render()


def test_a_retry_held_at_a_paused_step_is_paused_not_overdue(lane_engine, settings):
    """A paused step holds its items' due retries unclaimed (``drain.hold_parked``): the drain, not the schedule, says
    when they run. They are ``tpfgo_parked_paused``; counting them overdue paged ``TPFGoRetriesOverdue`` ("the
    worker or the broker is down") for every pause longer than the grace period and five minutes."""
    from pipelines.recovery import drain, pausing, retries

    settings.TPFGO_SWEEP_GRACE_SECONDS = 60
    lane.FAILURES["index"] = 1
    lane_engine.start("ingest", {"text": "b"}, "doc-2")
    paused = pausing.pause(lane_engine.composition, "ingest", "index", actor="ops", reason="index down")
    parked = ParkedItem.objects.get()
    assert retries.run_attempt(parked.pk, 2, worker="w") == "paused"

    later = figures(timezone.now() + datetime.timedelta(minutes=5))

    assert later[("tpfgo_parked_paused", "ingest", "index")] == 1.0
    assert ("tpfgo_parked_overdue", "ingest", "index") not in later
    assert overdue_on_the_dashboard(minutes=5) == []
    pausing.resume(paused.pk, actor="ops", reason="index back")
    drain.run(paused.pk, timezone.now() + datetime.timedelta(minutes=5))
    released = figures(timezone.now() + datetime.timedelta(minutes=5))
    assert ("tpfgo_parked_overdue", "ingest", "index") not in released  # its release is not due for a grace yet
    assert overdue_on_the_dashboard(minutes=5) == []
    assert figures(timezone.now() + datetime.timedelta(minutes=10))[("tpfgo_parked_overdue", "ingest", "index")] == 1.0
    assert overdue_on_the_dashboard(minutes=10) == [parked.pk]


def overdue_on_the_dashboard(minutes: float) -> list[object]:
    """The parked items of the console dashboard's *Overdue parked items*, that many minutes from now."""
    from opsconsole import selectors

    return [row.parked_id for row in selectors.overdue_parked(now=timezone.now() + datetime.timedelta(minutes=minutes))]


def test_the_dashboard_lists_as_overdue_what_the_metric_counts_after_the_same_grace(lane_engine, settings):
    """The dashboard's *Overdue parked items* and ``tpfgo_parked_overdue`` read one grace period (the sweeper's,
    ``TPFGO_SWEEP_GRACE_SECONDS``) and one clock (the database's): the dashboard had 60 s of its own and its node's
    clock, so between the two graces, or on a console node whose clock was ahead, it listed what no alert counted."""
    from opsconsole import selectors

    settings.TPFGO_SWEEP_GRACE_SECONDS = 300
    lane.FAILURES["index"] = 1
    lane_engine.start("ingest", {"text": "b"}, "doc-2")  # its retry is due about now
    parked = ParkedItem.objects.get()

    assert ("tpfgo_parked_overdue", "ingest", "index") not in figures(timezone.now() + datetime.timedelta(minutes=2))
    assert overdue_on_the_dashboard(minutes=2) == []
    assert figures(timezone.now() + datetime.timedelta(minutes=6))[("tpfgo_parked_overdue", "ingest", "index")] == 1.0
    assert overdue_on_the_dashboard(minutes=6) == [parked.pk]
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=10), tick=False):  # the console's node
        assert selectors.overdue_parked() == []
