"""The sweeper's frontier (``OpenPosition``): kept by triggers as traces go on, are decided and purged; rebuilt from
the log; read by ``candidates`` with the window scan's answer."""

from __future__ import annotations

import dataclasses
import datetime

import pytest
import time_machine
from django.core import checks
from django.db import connection
from django.utils import timezone

from pipelines import triggers
from pipelines.engine.registry import composition
from pipelines.engine.runner import Engine
from pipelines.models import CheckpointLog, FlowRule, OpenPosition, Resumption
from pipelines.recovery import frontier
from pipelines.recovery import resume as recovery
from pipelines.store import open_positions, partitions
from tests.lane import composition as lane

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def lane_frontier(settings, lane_composition):
    """The lane's flow rules written and the frontier rebuilt, as a migrate with this composition would."""
    settings.TPFGO_RESUME_ENQUEUE = ""
    settings.TPFGO_SWEEP_GRACE_SECONDS = 60
    settings.TPFGO_SWEEP_WINDOW_SECONDS = 3600
    frontier.install(connection)
    assert frontier.in_force(lane.COMPOSITION)
    yield
    lane.FAILURES.clear()


def later(seconds: float) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(seconds=seconds)


def without_subscriptions() -> Engine:
    return Engine(dataclasses.replace(lane.COMPOSITION, subscriptions=()))


def open_by_the_log() -> set[int]:
    """The positions the sweeper could find stalled, judged row by row from the log and the resumptions."""
    comp = composition()
    flows = frontier.downstream(comp)
    rows = list(CheckpointLog.objects.order_by("seq"))
    decided = {
        (r.trace_id, r.seq)
        for r in Resumption.objects.all()
        if r.decision == Resumption.SKIPPED or r.attempt >= recovery.MAX_RESUME_ATTEMPTS
    }
    out = set()
    for row in rows:
        after = flows.get(row.pipeline)
        newer = [n for n in rows if n.trace_number == row.trace_number and n.seq > row.seq]
        went_on = any(after is None or n.pipeline in after for n in newer)
        if row.publication not in comp.terminal and not went_on and (row.trace_id, row.seq) not in decided:
            out.add(row.seq)
    return out


def kept() -> set[int]:
    return set(OpenPosition.objects.values_list("seq", flat=True))


def test_a_finished_trace_leaves_nothing_open_and_a_stalled_one_leaves_its_last_row(lane_engine):
    lane_engine.start("ingest", {"text": "a b"}, "doc-1")  # receive → tokenize ×2 → index → publish: terminal
    without_subscriptions().start("ingest", {"text": "c"}, "doc-2")  # stops after index: nothing ran publish
    stalled = CheckpointLog.objects.filter(pipeline="ingest", step="index").order_by("seq").last()

    assert CheckpointLog.objects.count() == 5 + 3
    assert kept() == open_by_the_log() == {stalled.seq}
    assert OpenPosition.objects.get().trace_id == stalled.trace_id


def test_a_side_pipeline_run_later_does_not_close_the_chain_position(lane_engine):
    without_subscriptions().start("ingest", {"text": "a"}, "doc-1")
    stalled = CheckpointLog.objects.order_by("seq").last()
    received = lane.DocumentReceived.objects.get()
    lane_engine.run("manual-publish", received, key=received.idempotency_key, trace_id=stalled.trace_id)
    manual = CheckpointLog.objects.order_by("seq").last()

    assert manual.pipeline == "manual-publish"
    assert kept() == open_by_the_log() == {stalled.seq, manual.seq}


def test_a_refused_document_ends_on_a_terminal_publication_and_leaves_nothing(lane_engine):
    lane_engine.start("ingest", {"text": ""}, "doc-empty")  # receive refuses it: lane.refused.v1, terminal
    assert CheckpointLog.objects.get().publication == "lane.refused.v1"
    assert kept() == open_by_the_log() == set()


def test_a_decision_for_good_settles_a_position_and_a_live_attempt_does_not():
    without_subscriptions().start("ingest", {"text": "a"}, "doc-1")
    without_subscriptions().start("ingest", {"text": "b"}, "doc-2")
    first, second = CheckpointLog.objects.filter(step="index").order_by("seq")
    now = timezone.now()

    Resumption.objects.create(trace_id=first.trace_id, seq=first.seq, attempt=1, decision="resumed", created_at=now)
    assert kept() == open_by_the_log() == {first.seq, second.seq}
    for attempt in (2, 3):  # the last attempt decides it
        Resumption.objects.create(
            trace_id=first.trace_id, seq=first.seq, attempt=attempt, decision="resumed", created_at=now
        )
    Resumption.objects.create(trace_id=second.trace_id, seq=second.seq, attempt=1, decision="skipped", created_at=now)
    assert kept() == open_by_the_log() == set()


def test_a_resume_by_the_sweeper_moves_the_frontier_on(lane_engine):
    without_subscriptions().start("ingest", {"text": "a b"}, "doc-1")
    assert len(kept()) == 1

    assert [r.seq for r in recovery.candidates(now=later(120))] == list(kept())
    [(trace, seq)] = [(r.trace_id, r.seq) for r in recovery.candidates(now=later(120))]
    assert recovery.resume(trace, seq) == "inserted"  # runs publish: terminal

    assert kept() == open_by_the_log() == set()
    assert recovery.candidates(now=later(120)) == []


def test_the_purge_takes_its_rows_out():
    without_subscriptions().start("ingest", {"text": "a"}, "doc-1")
    without_subscriptions().start("ingest", {"text": "b"}, "doc-2")
    first, second = CheckpointLog.objects.filter(step="index").order_by("seq")
    with triggers.purge_flag("test", "default"), connection.cursor() as cursor:
        cursor.execute("DELETE FROM pipelines_checkpointlog WHERE trace_number = %s", [first.trace_number])

    assert kept() == open_by_the_log() == {second.seq}


def test_a_rebuild_gives_the_rows_the_triggers_kept(lane_engine):
    lane_engine.start("ingest", {"text": "a b"}, "doc-1")
    without_subscriptions().start("ingest", {"text": "c"}, "doc-2")
    without_subscriptions().start("ingest", {"text": "d"}, "doc-3")
    decided = CheckpointLog.objects.filter(step="index").order_by("seq").last()
    Resumption.objects.create(
        trace_id=decided.trace_id, seq=decided.seq, attempt=1, decision="skipped", created_at=timezone.now()
    )
    before = kept()
    assert len(before) == 1

    OpenPosition.objects.all().delete()  # derived, like an index: it can be dropped and rebuilt
    frontier.rebuild()

    assert kept() == before == open_by_the_log()


@pytest.mark.parametrize("text", ["a b", "c", ""])
def test_candidates_from_the_frontier_are_the_window_scans(lane_engine, text):
    without_subscriptions().start("ingest", {"text": "x y"}, "doc-stalled")
    lane_engine.start("ingest", {"text": text}, "doc-other")
    received = lane.DocumentReceived.objects.filter(idempotency_key__contains="doc-stalled").first()
    if received is not None:  # a side pipeline's row on the stalled trace
        trace = CheckpointLog.objects.filter(step="index").order_by("seq").first().trace_id
        lane_engine.run("manual-publish", received, key=received.idempotency_key, trace_id=trace)
    read = [(r.trace_id, r.seq) for r in recovery.candidates(now=later(120))]

    with connection.cursor() as cursor:  # another composition's rules: the frontier is not in force
        open_positions.write_rules(cursor, frontier.rules(dataclasses.replace(lane.COMPOSITION, terminal=frozenset())))
    assert not frontier.in_force(lane.COMPOSITION)
    scanned = [(r.trace_id, r.seq) for r in recovery.candidates(now=later(120))]

    assert read == scanned
    assert len(read) == 2  # the stalled index row and the manual run's
    assert {seq for _, seq in read} == open_by_the_log()


def test_rules_of_another_composition_are_a_warning_and_missing_triggers_an_error():
    assert frontier.check(databases=["default"]) == []
    with connection.cursor() as cursor:
        open_positions.write_rules(cursor, frontier.rules(dataclasses.replace(lane.COMPOSITION, subscriptions=())))
    assert [m.id for m in frontier.check(databases=["default"])] == ["pipelines.W044"]

    trigger = open_positions.TRIGGERS.name("log_ai", open_positions.LOG)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DROP TRIGGER {trigger}" + (" ON pipelines_checkpointlog" if connection.vendor != "sqlite" else "")
        )
    problems = frontier.check(databases=["default"])
    assert [(m.id, m.level) for m in problems] == [("pipelines.E044", checks.ERROR)]
    assert trigger in problems[0].msg


def test_the_rules_are_the_flow_and_its_fingerprint():
    rules = frontier.rules(lane.COMPOSITION)
    assert {r for r in rules if r[0] == FlowRule.AFTER} == {
        ("after", "ingest", "ingest"),
        ("after", "ingest", "publish"),
        ("after", "publish", "publish"),
        ("after", "manual-publish", "manual-publish"),
    }
    assert {r for r in rules if r[0] == FlowRule.TERMINAL} == {
        ("terminal", "lane.published.v1", ""),
        ("terminal", "lane.refused.v1", ""),
    }
    [fingerprint] = [r for r in rules if r[0] == FlowRule.FINGERPRINT]
    assert (
        fingerprint[1]
        == frontier.fingerprint(lane.COMPOSITION)
        != frontier.fingerprint(dataclasses.replace(lane.COMPOSITION, subscriptions=()))
    )


# -- PostgreSQL partitions: rows moved out of the default partition, months dropped whole ---------------------------
PG_ONLY = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="partitions exist on PostgreSQL only")
MARCH, APRIL, JUNE = (datetime.datetime(2031, m, 10, 9, 30, tzinfo=datetime.UTC) for m in (3, 4, 6))


def stall_at(key: str, at: datetime.datetime) -> int:
    with time_machine.travel(at, tick=False):
        without_subscriptions().start("ingest", {"text": key}, key)
    return CheckpointLog.objects.filter(step="index").order_by("seq").last().seq


@PG_ONLY
def test_rows_moved_out_of_the_default_partition_keep_their_open_positions():
    seq = stall_at("doc-june", JUNE)  # no partition for June 2031 yet: the default partition holds it
    assert kept() == {seq}

    assert partitions.ensure(now=JUNE, months_ahead=0) != []  # moves the rows: a delete, then an insert

    assert kept() == open_by_the_log() == {seq}


@PG_ONLY
def test_a_dropped_month_takes_its_open_positions_out():
    partitions.ensure(now=APRIL, since=MARCH, months_ahead=0)
    stall_at("doc-march", MARCH)
    april = stall_at("doc-april", APRIL)
    assert len(kept()) == 2

    dropped = partitions.drop_expired(before=partitions.month_of(APRIL), expired=lambda traces: [t for _, t in traces])

    assert [d.traces for d in dropped] == [1]
    assert kept() == open_by_the_log() == {april}


def test_the_went_on_probe_reads_one_index_for_the_trace_and_the_older_positions():
    """The log trigger deletes a trace's older positions (``trace_number =``, ``seq <``). With an index on the trace
    alone PostgreSQL combined it with a range over the primary key, every dead entry of the churned table per
    logged row (the batched stream fell to a tenth in a few thousand orders): one index must answer both."""
    probe = "DELETE FROM pipelines_openposition WHERE trace_number = %s AND seq < %s"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            cursor.execute("EXPLAIN " + probe, [7, 100])
            plan = "\n".join(line for (line,) in cursor.fetchall())
            assert "Index Scan using open_position_trace_seq" in plan, plan
            assert "Index Cond: ((trace_number = 7) AND (seq < 100))" in plan, plan
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + probe.replace("%s", "?"), [7, 100])
            plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
            assert "USING INDEX open_position_trace_seq (trace_number=? AND seq<?)" in plan, plan
