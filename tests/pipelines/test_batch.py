"""The batched path: the single path's rows, statuses and hand-offs, a step's batch in one transaction."""

import dataclasses
import datetime

import pytest
from django.db import connection

from pipelines.contracts.errors import NonRetryableError
from pipelines.engine.batch import BatchEngine
from pipelines.engine.runner import Engine
from pipelines.models import CheckpointLog, ErrorSinkEntry, LineageLink, ParkedItem, Trace
from pipelines.store import clock, fast, postgres, sqlite
from pipelines.store.store import store
from tests.conftest import all_insert_only_counts, node_clock
from tests.lane import composition as lane
from tests.lane.models import DocumentIndexed, DocumentPublished, DocumentReceived, DocumentRefused, TokenIndexed
from tests.snapshots import snapshot, wipe

pytestmark = pytest.mark.django_db

DOCS = [
    ({"text": "gamma alpha beta", "tags": ["x", "y"]}, "doc-1"),
    ({"text": "   "}, "doc-empty"),  # a decision outcome: refused
    ({"text": "one"}, "doc-2"),
    ({"text": "b a b c", "tags": ["z"]}, "doc-3"),
]


@pytest.fixture(autouse=True, params=["statement", "copy"])
def batch_writer(request, monkeypatch):
    """Every test with each of PostgreSQL's two batch writers: the statement, and binary COPY (here from the first
    checkpoint on, inside the batched engine only: the single path's rows, the expected ones, keep the statement)."""
    if request.param == "statement":
        monkeypatch.setattr(postgres, "COPY_ROWS", 10**9)
        return request.param
    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    for name in ("start_many", "run_many"):
        monkeypatch.setattr(BatchEngine, name, _copying(getattr(BatchEngine, name), monkeypatch))
    return request.param


def _copying(method, monkeypatch):
    def run(*args, **kwargs):
        with monkeypatch.context() as inside:
            inside.setattr(postgres, "COPY_ROWS", 0)
            return method(*args, **kwargs)

    return run


def statuses(executions):
    return [[(r.pipeline, r.step, r.status) for r in e.results] for e in executions]


def test_a_batch_stores_exactly_the_rows_of_the_single_path(lane_engine):
    single = [lane_engine.start("ingest", payload, key) for payload, key in DOCS]
    expected = snapshot()
    wipe()

    batched = BatchEngine(lane.COMPOSITION).start_many("ingest", DOCS)

    assert snapshot() == expected
    assert statuses(batched) == statuses(single)
    assert DocumentRefused.objects.count() == 1 and DocumentPublished.objects.count() == 3
    # 6 tokens split from 3 documents, each merged back: one link per split child and per merge parent.
    assert LineageLink.objects.filter(child_type="TokenIndexed").count() == TokenIndexed.objects.count() == 7
    assert LineageLink.objects.filter(child_type="DocumentIndexed").count() == 7


def test_a_batch_written_in_many_small_statements_stores_exactly_the_rows_of_the_single_path(lane_engine, monkeypatch):
    """SQLite splits a table's rows over several multi-row INSERTs when they exceed the bound-value limit."""
    single = [lane_engine.start("ingest", payload, key) for payload, key in DOCS]
    expected = snapshot()
    wipe()
    monkeypatch.setattr(sqlite, "MAX_VARS", 16)  # a log row has 8 columns: 2 rows per statement

    batched = BatchEngine(lane.COMPOSITION).start_many("ingest", DOCS)

    assert snapshot() == expected
    assert statuses(batched) == statuses(single)
    assert LineageLink.objects.count() == 17 and CheckpointLog.objects.count() == 17


def test_the_log_lists_each_items_checkpoints_in_step_order():
    BatchEngine(lane.COMPOSITION).start_many("ingest", DOCS)
    received = DocumentReceived.objects.get(idempotency_key="doc-3")
    types = list(
        CheckpointLog.objects.filter(trace_id=received.trace_id)
        .order_by("seq")
        .values_list("checkpoint_type", "publication")
    )
    assert types == [
        ("DocumentReceived", ""),
        ("TokenIndexed", ""),
        ("TokenIndexed", ""),
        ("TokenIndexed", ""),
        ("DocumentIndexed", "lane.indexed.v1"),
        ("DocumentPublished", "lane.published.v1"),
    ]


def test_a_replayed_batch_inserts_nothing_and_reports_replays():
    engine = BatchEngine(lane.COMPOSITION)
    first = engine.start_many("ingest", DOCS)
    before = all_insert_only_counts()

    again = engine.start_many("ingest", DOCS)

    assert all_insert_only_counts() == before
    assert {r.status for e in again for r in e.results} == {"replayed"}
    assert [[cp.pk for r in e.results for cp in r.checkpoints] for e in again] == [
        [cp.pk for r in e.results for cp in r.checkpoints] for e in first
    ]


def test_a_key_twice_in_one_batch_is_a_replay_the_second_time():
    executions = BatchEngine(lane.COMPOSITION).start_many("ingest", [DOCS[0], DOCS[0]])
    assert {r.status for r in executions[0].results} == {"inserted"}
    assert {r.status for r in executions[1].results} == {"replayed"}
    assert DocumentPublished.objects.count() == 1


def failing_receive(ctx):
    if "boom" in ctx.input.payload["text"]:
        raise NonRetryableError("boom found", code="INVALID_DATA")
    return lane.receive(ctx)


FAILING = dataclasses.replace(
    lane.COMPOSITION,
    pipelines=tuple(
        dataclasses.replace(p, steps=(dataclasses.replace(p.steps[0], process=failing_receive), *p.steps[1:]))
        if p.name == "ingest"
        else p
        for p in lane.COMPOSITION.pipelines
    ),
)


def test_a_failing_item_gets_one_sink_entry_and_never_blocks_its_batch_mates():
    docs = [DOCS[0], ({"text": "a boom"}, "doc-bad"), DOCS[2]]

    executions = BatchEngine(FAILING).start_many("ingest", docs)

    assert [e.results[-1].status for e in executions] == ["inserted", "failed", "inserted"]
    assert DocumentPublished.objects.count() == 2
    entry = ErrorSinkEntry.objects.get()
    assert (entry.pipeline, entry.step, entry.error_code, entry.attempt) == ("ingest", "receive", "INVALID_DATA", 1)
    assert ParkedItem.objects.get().idempotency_key == "doc-bad"
    assert not DocumentReceived.objects.filter(idempotency_key="doc-bad").exists()


def test_a_batch_whose_statement_fails_is_redone_item_by_item_with_the_same_rows(lane_engine, monkeypatch):
    for payload, key in DOCS:
        lane_engine.start("ingest", payload, key)
    expected = snapshot()
    wipe()
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise sqlbulk_error()

    monkeypatch.setattr(store, "write_batch", broken)  # the batch's statement; items alone still write
    executions = BatchEngine(lane.COMPOSITION).start_many("ingest", DOCS)

    assert calls  # every batch statement failed, and every item still went through on its own
    assert snapshot() == expected
    assert ErrorSinkEntry.objects.count() == 0
    assert all(e.results[-1].status == "inserted" for e in executions if e.results[0].step == "receive")


def sqlbulk_error():
    from django.db import IntegrityError

    return IntegrityError("simulated: the batch statement failed")


def test_an_item_that_lost_its_business_key_to_another_path_is_lost_not_failed(lane_engine):
    lane_engine.start("ingest", {"text": "a b"}, "doc-1")
    received = DocumentReceived.objects.get()
    winner = DocumentPublished.objects.get()
    before = all_insert_only_counts()

    [execution] = BatchEngine(lane.COMPOSITION).run_many("manual-publish", [received])

    assert execution.first.status == "lost" and execution.first.lost_to == winner.pk
    assert all_insert_only_counts() == before
    assert ErrorSinkEntry.objects.count() == 0


def test_an_awaiting_step_stops_its_items_and_an_event_resumes_them_in_bulk():
    lane.FAILURES["publish"] = "await"
    try:
        executions = BatchEngine(lane.COMPOSITION).start_many("ingest", [DOCS[0], DOCS[2]])
    finally:
        lane.FAILURES.clear()
    assert [e.results[-1].status for e in executions] == ["awaiting", "awaiting"]
    assert DocumentPublished.objects.count() == 0

    resumed = BatchEngine(lane.COMPOSITION).run_many(
        "publish", list(DocumentIndexed.objects.all()), event={"by": "ops"}
    )

    assert [e.first.status for e in resumed] == ["inserted", "inserted"]
    assert DocumentPublished.objects.count() == 2


def test_a_bulk_resume_of_traces_started_apart_writes_each_its_own_trace_time():
    """The rows of a batch step carry their trace's creation time (the partition key), not a batch-mate's: here
    the two traces were started by two batches, so they hold two times, and one bulk run resumes both."""
    lane.FAILURES["publish"] = "await"
    try:
        for doc in (DOCS[0], DOCS[2]):
            BatchEngine(lane.COMPOSITION).start_many("ingest", [doc])
    finally:
        lane.FAILURES.clear()
    started = dict(Trace.objects.values_list("trace_id", "created_at"))
    assert len(set(started.values())) == 2

    BatchEngine(lane.COMPOSITION).run_many("publish", list(DocumentIndexed.objects.order_by("trace_id")))

    published = list(DocumentPublished.objects.all())
    assert len(published) == 2
    for row in published:
        [log] = CheckpointLog.objects.filter(checkpoint_id=row.pk)
        [link] = LineageLink.objects.filter(child_id=row.pk)
        assert log.trace_created_at == link.trace_created_at == started[row.trace_id]


def test_a_merge_rerun_in_bulk_from_its_inputs_replays(lane_engine):
    lane_engine.start("ingest", {"text": "d c b a"}, "doc-1")
    tokens = list(TokenIndexed.objects.all())
    before = all_insert_only_counts()

    [execution] = BatchEngine(lane.COMPOSITION).run_many("ingest", [list(reversed(tokens))], step="index")

    assert execution.first.status == "replayed"
    assert all_insert_only_counts() == before


def test_the_batch_path_and_the_single_path_agree_on_ids(lane_engine):
    [batched] = BatchEngine(lane.COMPOSITION).start_many("ingest", [DOCS[3]])
    replay = Engine(lane.COMPOSITION).start("ingest", *DOCS[3])
    assert {r.status for r in replay.results} == {"replayed"}
    assert [cp.pk for r in replay.results for cp in r.checkpoints] == [
        cp.pk for r in batched.results for cp in r.checkpoints
    ]


@pytest.mark.django_db(transaction=True)
def test_committed_batches_skip_the_replay_look_ups_and_store_the_same_rows(lane_engine):
    for payload, key in DOCS:
        lane_engine.start("ingest", payload, key)
    expected = snapshot()
    wipe()
    looked_up = []
    original = store.stored_outputs
    store.stored_outputs = lambda step, plans: looked_up.append((step.name, len(list(plans)))) or original(step, [])
    try:
        BatchEngine(lane.COMPOSITION).start_many("ingest", DOCS)
    finally:
        del store.stored_outputs
    assert snapshot() == expected
    # Only the source step looks anything up: every later input was inserted by this run.
    assert [(name, n) for name, n in looked_up if n] == [("receive", 4)]


def test_rows_are_prepared_like_the_orm_prepares_them():
    BatchEngine(lane.COMPOSITION).start_many("ingest", [DOCS[0]])
    received = DocumentReceived.objects.get()
    table = fast.table(DocumentReceived, __import__("django.db").db.connection)
    assert table.attnames[: len(("id", "trace_id"))] == ("id", "trace_id")
    assert received.text == "gamma alpha beta" and list(received.documenttag_set.values_list("tag", flat=True)) == [
        "x",
        "y",
    ]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_a_batch_goes_in_by_copy_and_a_conflict_takes_the_statement_leaving_nothing_of_the_copy(
    lane_engine, batch_writer, monkeypatch
):
    if batch_writer != "copy":
        pytest.skip("the COPY writer's own test")
    copied = []
    original = postgres._copy
    monkeypatch.setattr(postgres, "_copy", lambda *args: copied.append(original(*args)) or copied[-1])

    BatchEngine(lane.COMPOSITION).start_many("ingest", DOCS)

    # receive (one refused), tokenize (split), index (merge), publish: every write went in by COPY, one id per row.
    assert [len(ids) for ids in copied] == [4, 7, 3, 3]
    assert DocumentPublished.objects.count() == 3 and DocumentRefused.objects.count() == 1
    copied.clear()
    lane_engine.start("ingest", {"text": "a b"}, "doc-5")
    received = DocumentReceived.objects.get(idempotency_key="doc-5")
    before = all_insert_only_counts()

    [execution] = BatchEngine(lane.COMPOSITION).run_many("manual-publish", [received])

    assert copied == [None]  # the COPY met the stored business key; the statement then skipped the row
    assert execution.first.status == "lost"
    assert all_insert_only_counts() == before


def test_a_batch_run_on_a_node_whose_clock_is_behind_writes_the_databases_time():
    with node_clock(-10):  # before: every row of the batch was written ten minutes old
        BatchEngine(lane.COMPOSITION).start_many("ingest", DOCS)
    database = clock.now()
    times = set(CheckpointLog.objects.values_list("created_at", flat=True)) | set(
        Trace.objects.values_list("created_at", flat=True)
    )
    assert times and all(database - datetime.timedelta(seconds=5) < t <= database for t in times)
