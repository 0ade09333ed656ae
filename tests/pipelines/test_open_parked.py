"""``OpenParked``: the open failures, kept by triggers as parked items open, die and close; rebuilt on demand."""

from __future__ import annotations

import pytest
from django.core import checks
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsconsole import selectors
from pipelines.failures import parking
from pipelines.models import OpenParked, ParkedItem, ParkingOutcome
from pipelines.store import open_parked
from tests.lane import composition as lane

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _failures(lane_composition, settings):
    settings.TPFGO_RETRY_ENQUEUE = ""  # park only: nothing runs the retries here
    yield
    lane.FAILURES.clear()


def from_the_ledgers() -> dict:
    """Open failures as the ledgers say: no outcome yet, or a dead letter as the newest outcome."""
    out = {}
    for parked in ParkedItem.objects.all():
        newest = parking.latest_outcome(parked)
        if newest is None or newest.outcome == ParkingOutcome.DEAD_LETTERED:
            out[parked.pk] = (parked.pipeline, parked.step, parked.trace_id, newest and newest.created_at)
    return out


def from_the_table() -> dict:
    return {o.parked_id: (o.pipeline, o.step, o.trace_id, o.dead_at) for o in OpenParked.objects.all()}


def test_the_table_follows_parking_dead_letters_and_closing_outcomes(lane_engine):
    lane.FAILURES["index"] = 9
    for n in range(3):
        lane_engine.start("ingest", {"text": f"w{n}"}, f"doc-{n}")
    first, second, third = ParkedItem.objects.order_by("created_at")
    assert len(from_the_table()) == 3 and from_the_table() == from_the_ledgers()

    parking.dead_letter(first, "retry_exhausted", 4, RuntimeError("gone"))
    parking.resolve(second, ParkingOutcome.RESOLVED, 2)
    assert from_the_table() == from_the_ledgers()
    assert set(from_the_table()) == {first.pk, third.pk}
    assert OpenParked.objects.get(parked_id=first.pk).dead_at == ParkingOutcome.objects.get(parked=first).created_at

    parking.resolve(first, ParkingOutcome.CANCELLED, 4, "ops-cancel")  # ops ended the dead letter
    parking.dead_letter(third, "non_retryable", 1, RuntimeError("bug"))
    assert from_the_table() == from_the_ledgers()
    assert set(from_the_table()) == {third.pk}


def test_a_rebuild_gives_the_rows_the_triggers_kept(lane_engine):
    lane.FAILURES["index"] = 9
    for n in range(3):
        lane_engine.start("ingest", {"text": f"w{n}"}, f"doc-{n}")
    parked = list(ParkedItem.objects.order_by("created_at"))
    parking.dead_letter(parked[0], "retry_exhausted", 4, RuntimeError("gone"))
    parking.resolve(parked[1], ParkingOutcome.RESOLVED, 2)
    kept = from_the_table()

    OpenParked.objects.all().delete()  # derived, like an index: it can be dropped and rebuilt
    open_parked.rebuild()

    assert from_the_table() == kept == from_the_ledgers()
    assert len(kept) == 2


def test_the_dashboard_reads_open_failures_not_every_parked_item(lane_engine):
    lane.FAILURES["index"] = 9
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    parking.dead_letter(ParkedItem.objects.get(), "retry_exhausted", 4, RuntimeError("gone"))

    with CaptureQueriesContext(connection) as captured:
        stalled = selectors.stalled_by_step()
    assert stalled == [{"pipeline": "ingest", "step": "index", "orders": 1, "retrying": 0, "held": 0, "dead": 1}]
    assert all("pipelines_parkeditem" not in q["sql"] for q in captured.captured_queries)
    [dead] = selectors.dead_letters()
    assert (dead.reason, dead.attempts) == ("retry_exhausted", 4)


def test_a_missing_trigger_fails_the_database_check():
    assert open_parked.check_triggers(databases=["default"]) == []
    [name] = [n for n in open_parked.TRIGGERS.names(connection.vendor) if "parked_ai" in n]
    with connection.cursor() as cursor:
        cursor.execute(
            f"DROP TRIGGER {name}" + (" ON pipelines_parkeditem" if connection.vendor == "postgresql" else "")
        )
    try:
        problems = open_parked.check_triggers(databases=["default"])
        assert [(p.id, p.level) for p in problems] == [("pipelines.E008", checks.ERROR)]
        assert name in problems[0].msg
    finally:
        open_parked.install(connection)
    assert open_parked.check_triggers(databases=["default"]) == []


def test_a_trigger_function_that_would_run_as_the_caller_fails_the_database_check():
    if connection.vendor != "postgresql":
        pytest.skip("SECURITY DEFINER is PostgreSQL's")
    assert open_parked.check_triggers(databases=["default"]) == []
    with connection.cursor() as cursor:
        cursor.execute("ALTER FUNCTION tpfgo_open_outcome() SECURITY INVOKER")
    try:
        problems = open_parked.check_triggers(databases=["default"])
        assert [(p.id, p.level) for p in problems] == [("pipelines.E008", checks.ERROR)]
        assert problems[0].msg.endswith("tpfgo_open_outcome() as its owner")
    finally:
        open_parked.install(connection)
    assert open_parked.check_triggers(databases=["default"]) == []
