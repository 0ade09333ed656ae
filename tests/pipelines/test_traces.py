"""Trace numbers: handed out in order, once per trace, remembered only once committed, and what the log and the
lineage are found by."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection, connections, transaction

from pipelines.engine.runner import Engine
from pipelines.models import CheckpointLog, LineageLink, Trace
from pipelines.store import reads, traces
from tests.lane.composition import COMPOSITION

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_batch_of_new_traces_gets_consecutive_numbers_in_order_and_keeps_them():
    ids = [uuid.uuid4() for _ in range(5)]

    with transaction.atomic():
        first = traces.numbers(ids)
    numbers = [first[t] for t in ids]
    assert numbers == list(range(numbers[0], numbers[0] + 5))
    assert Trace.objects.count() == 5

    with transaction.atomic():
        again = traces.numbers([ids[3], uuid.UUID(str(ids[1])), str(ids[0])])
    assert again == {ids[3]: first[ids[3]], ids[1]: first[ids[1]], ids[0]: first[ids[0]]}
    assert Trace.objects.count() == 5
    assert traces.number_of(ids[2]) == first[ids[2]]
    assert traces.number_of(uuid.uuid4()) is None


def test_a_scope_remembers_numbers_only_once_their_transaction_committed():
    rolled_back, committed = uuid.uuid4(), uuid.uuid4()
    with reads.scope() as scope:
        with pytest.raises(RuntimeError), transaction.atomic():
            traces.numbers([rolled_back])
            raise RuntimeError("the step failed")
        assert scope.traces == {}
        assert Trace.objects.count() == 0

        with transaction.atomic():
            number, created = traces.stamps([committed])[committed]
            assert scope.traces == {}
        assert (number, created) == Trace.objects.values_list("number", "created_at").get(trace_id=committed)
        assert scope.traces == {committed: (number, created)}
        with CaptureCount() as count:
            assert traces.numbers([committed]) == {committed: number}
            assert traces.stamps([committed]) == {committed: (number, created)}
        assert count.queries == 0


def test_the_log_and_the_lineage_carry_their_traces_number_and_are_found_by_trace():
    engine = Engine(COMPOSITION)
    first = engine.start("ingest", {"text": "alpha beta"}, "doc-1")
    second = engine.start("ingest", {"text": "gamma delta"}, "doc-2")
    one, two = first.results[0].checkpoints[0].trace_id, second.results[0].checkpoints[0].trace_id

    numbers = dict(Trace.objects.values_list("trace_id", "number"))
    assert set(numbers) == {one, two}
    assert numbers[two] == numbers[one] + 1
    for model in (CheckpointLog, LineageLink):
        rows = list(model.objects.all())
        assert rows and all(row.trace_number == numbers[row.trace_id] for row in rows)
        assert {row.pk for row in model.objects.of_trace(one)} == {r.pk for r in rows if r.trace_id == one}
        assert model.objects.of_traces([one, two]).count() == len(rows)
        assert model.objects.of_trace(uuid.uuid4()).count() == 0


@pytest.mark.postgres
def test_two_transactions_numbering_the_same_trace_agree():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers: PostgreSQL (SQLite serializes writers)")
    trace_id = uuid.uuid4()
    inserted, release = threading.Event(), threading.Event()
    got: dict[str, int] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                got["first"] = traces.numbers([trace_id])[trace_id]
                inserted.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=first)
    thread.start()
    assert inserted.wait(10)
    threading.Timer(0.3, release.set).start()  # the second waits on the unique index until the first commits
    with transaction.atomic():
        got["second"] = traces.numbers([trace_id])[trace_id]
    thread.join(10)

    assert got["first"] == got["second"]
    assert Trace.objects.filter(trace_id=trace_id).count() == 1


class CaptureCount:
    """Counts the statements sent on the default connection."""

    def __enter__(self) -> CaptureCount:
        self.queries = 0
        self._wrapper = connection.execute_wrapper(self._count)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._wrapper.__exit__(*exc)

    def _count(self, execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        self.queries += 1
        return execute(sql, params, many, context)


def test_traces_expected_new_are_inserted_first_and_stored_ones_still_found():
    stored, fresh = uuid.uuid4(), uuid.uuid4()
    with transaction.atomic():
        before = traces.numbers([stored])[stored]
    with transaction.atomic():
        both = traces.numbers([stored, fresh], new=True)
    assert both[stored] == before
    assert both[fresh] > before
    assert Trace.objects.count() == 2
