"""The sweeper's frontier (``OpenPosition``): kept by triggers as traces go on, are decided and purged; rebuilt from
the log; read by ``candidates`` with the window scan's answer."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.core import checks
from django.db import DatabaseError, connection
from django.utils import timezone

from pipelines import triggers
from pipelines.engine.registry import composition
from pipelines.engine.runner import Engine
from pipelines.models import CheckpointLog, FlowRule, OpenPosition, Resumption
from pipelines.recovery import frontier
from pipelines.recovery import resume as recovery
from pipelines.store import open_positions, partitions
from pipelines.triggers import purge_flag
from tests.lane import composition as lane
from tests.pipelines.test_partitions import remove_rest

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

    with purge_flag("test", "default"):
        dropped = partitions.drop_expired(
            before=partitions.month_of(APRIL), expired=lambda traces: [t for _, t in traces], purge=remove_rest
        )

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


def _log_in_one_statement(rows: list[tuple[str, str, str, int, uuid.UUID]]) -> None:
    """Log rows ``(pipeline, step, publication, trace_number, trace_id)`` with one ``INSERT``, in list order: the
    way a batch step or a bulk load writes the log, many rows (of many traces) per statement."""
    now = timezone.now()
    columns = "checkpoint_type, checkpoint_id, trace_id, trace_number, pipeline, step, publication, created_at, "
    columns += "trace_created_at"
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    params: list[object] = []
    uuid_field, time_field = CheckpointLog._meta.get_field("trace_id"), CheckpointLog._meta.get_field("created_at")
    at = time_field.get_db_prep_value(now, connection)
    for pipeline, step, publication, number, trace in rows:
        ids = [uuid_field.get_db_prep_value(value, connection) for value in (uuid.uuid4(), trace)]
        params += ["Row", *ids, number, pipeline, step, publication, at, at]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO pipelines_checkpointlog ({columns}) VALUES {values}", params)


def _a_trace_as_logged(lane_engine) -> list[tuple[str, str, str]]:
    """A lane document's rows from its first to its terminal publication, a side pipeline's row among them."""
    lane_engine.start("ingest", {"text": "a b"}, "doc-model")
    rows = list(CheckpointLog.objects.order_by("seq"))
    return (
        [(r.pipeline, r.step, r.publication) for r in rows[:2]]
        + [("manual-publish", "publish", "")]
        + [(r.pipeline, r.step, r.publication) for r in rows[2:]]
    )


@pytest.mark.parametrize("traces", [7, 300])  # 7 traces: 22 rows, the kept plan; 300: 1,050, planned per statement
def test_one_statement_with_many_rows_of_each_trace_keeps_what_the_log_says(lane_engine, traces):
    """Rows of one statement that went on from each other: only the last of each trace's chain stays open (a
    stream's trace cut short stays at its last row; the side pipeline's row stays beside the chain)."""
    model = _a_trace_as_logged(lane_engine)
    assert len(model) == 6 and model[2][0] == "manual-publish"
    rows, base = [], 10_000
    for n in range(traces):  # each trace cut at its own length, and the traces' rows interleaved
        for pipeline, step, publication in model[: 1 + n % len(model)]:
            rows.append((n, (pipeline, step, publication, base + n, uuid.UUID(int=base + n))))
    rows.sort(key=lambda pair: (model.index(pair[1][:3]), pair[0]))
    assert open_positions.SMALL < len(rows) if traces > 100 else len(rows) < open_positions.SMALL

    _log_in_one_statement([row for _, row in rows])

    expected = open_by_the_log()
    assert kept() == expected
    ours = OpenPosition.objects.filter(trace_number__gte=base)
    # A trace cut before its terminal row keeps its chain's last row, and the side pipeline's row from length 3 on.
    wanted = sum((1 if n % 6 < 5 else 0) + (1 if n % 6 >= 2 else 0) for n in range(traces))
    assert ours.count() == wanted


def _trigger_plans(statement: Callable[[], None]) -> list[str]:
    """The plans of the statements the log's triggers ran, reported to this session (``auto_explain`` at NOTICE)."""
    plans: list[str] = []
    raw = connection.connection

    def keep(diagnostic: Any) -> None:
        if "plan:" in (diagnostic.message_primary or ""):
            plans.append(diagnostic.message_primary)

    with connection.cursor() as cursor:
        try:
            cursor.execute("LOAD 'auto_explain'")
        except DatabaseError:
            pytest.skip("auto_explain cannot be loaded by this role")
        for setting in ("log_min_duration = 0", "log_analyze = on", "log_nested_statements = on", "log_level = notice"):
            cursor.execute(f"SET LOCAL auto_explain.{setting}")
    raw.add_notice_handler(keep)
    try:
        statement()
    finally:
        raw.remove_notice_handler(keep)
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL auto_explain.log_min_duration = -1")
    return [plan for plan in plans if "pipelines_openposition" in plan.split("\n", 2)[1]]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the statement-level trigger is PostgreSQL's")
def test_a_batch_step_reads_its_new_rows_once_per_statement_whatever_plan_the_session_kept(lane_engine):
    """The trigger's plans are made at their first call in a session: here a one-row statement. Bigger statements
    then run the kept plan, and one that joined the new rows with themselves compared every pair (250,000
    comparisons, 30 ms, for a 500-row batch step): each statement must read the new rows once. Here 1,000 rows,
    two per trace: the older of each pair enters and leaves again in the same call."""
    model = _a_trace_as_logged(lane_engine)
    _log_in_one_statement([(*model[0], 1, uuid.UUID(int=1))])  # the session's plans, made for one row
    batch = [(*model[0], 100 + n, uuid.UUID(int=100 + n)) for n in range(500)]
    batch += [(*model[1], 100 + n, uuid.UUID(int=100 + n)) for n in range(500)]

    plans = _trigger_plans(lambda: _log_in_one_statement(batch))

    assert len(plans) == 2  # the insert of the new positions and the delete of those the new rows went on from
    assert [plan.count("Named Tuplestore Scan") for plan in plans] == [1, 1], plans
    assert kept() == open_by_the_log()
    assert OpenPosition.objects.filter(trace_number__gte=100).count() == 500


@pytest.mark.skipif(connection.vendor != "postgresql", reason="JIT is PostgreSQL's")
def test_the_log_trigger_never_compiles_its_statements(lane_engine):
    """A churned frontier table made the planner's estimate for the trigger's delete pass ``jit_above_cost``:
    compiling took 120 ms for a statement that ran in 2 ms, at every execution of a kept plan."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_jit_available()")
        if not cursor.fetchone()[0]:
            pytest.skip("this PostgreSQL has no JIT")
        cursor.execute("SET LOCAL jit = on")
        cursor.execute("SET LOCAL jit_above_cost = 0")  # every statement of this session would be compiled
    model = _a_trace_as_logged(lane_engine)
    batch = [(*model[0], 100 + n, uuid.UUID(int=100 + n)) for n in range(open_positions.SMALL + 1)]

    plans = _trigger_plans(lambda: _log_in_one_statement(batch))

    assert len(plans) == 2
    assert not [plan for plan in plans if "JIT:" in plan], plans


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the statement-level trigger is PostgreSQL's")
def test_a_bulk_load_of_whole_traces_puts_in_only_the_positions_that_stay(lane_engine):
    """Past SMALL rows the statement is planned for its rows, so it may skip the rows a newer row of the same
    statement went on from: a bulk load of whole traces (the floor, a restore) writes one position per open chain,
    not one per row to delete again."""
    model = _a_trace_as_logged(lane_engine)[:5]  # not yet at the terminal publication: the chain stays open
    traces = open_positions.SMALL // len(model) + 10
    rows = [(*step, 100 + n, uuid.UUID(int=100 + n)) for n in range(traces) for step in model]

    plans = _trigger_plans(lambda: _log_in_one_statement(rows))

    [enters] = [plan for plan in plans if "INSERT INTO pipelines_openposition" in plan]
    assert f"Tuples Inserted: {2 * traces}" in enters, enters  # the chain's last row and the side pipeline's
    assert OpenPosition.objects.filter(trace_number__gte=100).count() == 2 * traces
    assert kept() == open_by_the_log()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SECURITY DEFINER is PostgreSQL's")
def test_the_log_function_without_its_search_path_fails_the_database_check():
    """The function also carries ``jit = off``: a setting of its own must not pass for the fixed search path that
    a function running as its owner needs."""
    assert frontier.check(databases=["default"]) == []
    with connection.cursor() as cursor:
        cursor.execute("ALTER FUNCTION tpfgo_frontier_logged() RESET search_path")
        cursor.execute("SELECT proconfig FROM pg_proc WHERE proname = 'tpfgo_frontier_logged'")
        assert cursor.fetchone()[0] == ["jit=off"]

    problems = frontier.check(databases=["default"])

    assert [(m.id, m.level) for m in problems] == [("pipelines.E044", checks.ERROR)]
    assert problems[0].msg.endswith("tpfgo_frontier_logged() as its owner")
